/// \file vocab_parallel_embedding.cpp
/// \brief VocabParallelEmbedding on the simulator (chapter 6): padding, ranges,
///        masks, the masked local lookup and the all-reduce.
#include "atp/sim/layers/vocab_parallel_embedding.hpp"

#include "atp/sim/collectives.hpp"
#include "atp/sim/narrate.hpp"

#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace atp::sim {

std::int64_t pad_vocab_size(std::int64_t V, std::int64_t pad_to) {
  if (V < 1 || pad_to < 1)
    throw std::invalid_argument("pad_vocab_size: vocabulary size " + std::to_string(V) + " and padding " +
                                std::to_string(pad_to) + " must both be >= 1");
  return (V + pad_to - 1) / pad_to * pad_to;
}

std::string valid_vocab_tp_list(std::int64_t V) {
  const std::int64_t padded = pad_vocab_size(V);
  std::string out;
  for (std::int64_t p = 1; p <= padded && p <= 1024; ++p)
    if (padded % p == 0) out += (out.empty() ? "" : ", ") + std::to_string(p);
  return out;
}

std::int64_t vocab_per_rank(std::int64_t V, int p) {
  const std::int64_t padded = pad_vocab_size(V);
  if (p < 1 || padded % p != 0)
    throw std::invalid_argument("vocabulary " + std::to_string(V) + " padded to a multiple of 64 is V_pad = " +
                                std::to_string(padded) + ", which tp " + std::to_string(p) +
                                " does not divide; valid tp: " + valid_vocab_tp_list(V));
  return padded / p;
}

VocabRange vocab_range(std::int64_t V, int p, int r) {
  const std::int64_t n = vocab_per_rank(V, p);
  if (r < 0 || r >= p)
    throw std::invalid_argument("vocab_range: rank " + std::to_string(r) + " out of range; valid ranks are 0.." +
                                std::to_string(p - 1));
  return {std::min(r * n, V), std::min((r + 1) * n, V)};
}

void check_token_ids(const std::vector<std::int64_t>& ids, std::int64_t V) {
  for (std::size_t t = 0; t < ids.size(); ++t)
    if (ids[t] < 0 || ids[t] >= V)
      throw std::invalid_argument("token id " + std::to_string(ids[t]) + " at position " + std::to_string(t) +
                                  " is outside the vocabulary [0, " + std::to_string(V) + ")");
}

Matrix vocab_shard(const Matrix& table, int p, int r) {
  if (table.rows() < 1 || table.cols() < 1)
    throw std::invalid_argument("vocab_shard: the table " + shape_string(table) + " must have rows and columns");
  const VocabRange range = vocab_range(table.rows(), p, r);
  const std::int64_t n = vocab_per_rank(table.rows(), p);
  Matrix shard = Matrix::Zero(n, table.cols());  // +0.0f padding rows
  shard.topRows(range.size()) = table.middleRows(range.start, range.size());
  return shard;
}

Matrix vocab_shard_from_rows(const Matrix& rows, std::int64_t V, int p, int r) {
  const VocabRange range = vocab_range(V, p, r);
  const std::int64_t n = vocab_per_rank(V, p);
  if (rows.rows() != range.size() || (rows.cols() < 1 && range.size() > 0))
    throw std::invalid_argument("vocab_shard_from_rows: rank " + std::to_string(r) + " owns ids [" +
                                std::to_string(range.start) + ", " + std::to_string(range.end) + ") but got rows " +
                                shape_string(rows));
  Matrix shard = Matrix::Zero(n, rows.cols());  // +0.0f padding rows
  shard.topRows(range.size()) = rows;
  return shard;
}

void check_vocab_shard(const Matrix& shard, std::int64_t V, int p, int r, const std::string& what) {
  const std::int64_t n = vocab_per_rank(V, p);
  if (shard.rows() != n || shard.cols() < 1)
    throw std::invalid_argument(what + ": the shard on rank " + std::to_string(r) + " is " + shape_string(shard) +
                                " but must be (V_pad / p, H) = (" + std::to_string(n) +
                                ", H) for V = " + std::to_string(V) + " and p = " + std::to_string(p));
}

Matrix embedding_lookup(const Matrix& table, const std::vector<std::int64_t>& ids) {
  check_token_ids(ids, table.rows());
  Matrix out(static_cast<Eigen::Index>(ids.size()), table.cols());
  for (std::size_t t = 0; t < ids.size(); ++t) out.row(static_cast<Eigen::Index>(t)) = table.row(ids[t]);
  return out;
}

VocabParallelEmbedding VocabParallelEmbedding::from_master(const Matrix& table, int p, ReduceOrder order) {
  if (table.rows() < 1 || table.cols() < 1)
    throw std::invalid_argument("VocabParallelEmbedding: the table " + shape_string(table) +
                                " must have at least one row (V) and one column (H)");
  vocab_per_rank(table.rows(), p);  // throws with V, V_pad, p and the valid tp
  return from_shards(make_per_rank(p, [&](int r) -> Matrix { return vocab_shard(table, p, r); }), table.rows(),
                     order);
}

VocabParallelEmbedding VocabParallelEmbedding::from_shards(PerRank<Matrix> shards, std::int64_t V,
                                                           ReduceOrder order) {
  const int p = shards.size();
  vocab_per_rank(V, p);
  for (int r = 0; r < p; ++r) {
    check_vocab_shard(shards[r], V, p, r, "VocabParallelEmbedding");
    if (shards[r].cols() != shards[0].cols())
      throw std::invalid_argument("VocabParallelEmbedding: rank " + std::to_string(r) + " holds " +
                                  shape_string(shards[r]) + " but rank 0 holds " + shape_string(shards[0]));
  }
  return VocabParallelEmbedding(std::make_shared<const PerRank<Matrix>>(std::move(shards)), V, order);
}

PerRank<Matrix> VocabParallelEmbedding::masks(const std::vector<std::int64_t>& ids) const {
  check_token_ids(ids, V_);
  return make_per_rank(p(), [&](int r) -> Matrix {
    const VocabRange mine = range(r);
    Matrix m(static_cast<Eigen::Index>(ids.size()), 1);
    for (std::size_t t = 0; t < ids.size(); ++t) m(static_cast<Eigen::Index>(t), 0) = mine.contains(ids[t]) ? 1.0f : 0.0f;
    return m;
  });
}

PerRank<std::vector<std::int64_t>> VocabParallelEmbedding::local_indices(const std::vector<std::int64_t>& ids) const {
  check_token_ids(ids, V_);
  return make_per_rank(p(), [&](int r) -> std::vector<std::int64_t> {
    const VocabRange mine = range(r);
    std::vector<std::int64_t> local(ids.size(), 0);
    for (std::size_t t = 0; t < ids.size(); ++t)
      if (mine.contains(ids[t])) local[t] = ids[t] - mine.start;
    return local;
  });
}

namespace {

// "rank 1 owns ids [48, 96): mask 0 1 0 0 1, local 0 2 0 0 40" for the narrator.
std::string describe_rank(int r, const VocabRange& range, const std::vector<std::int64_t>& ids) {
  std::ostringstream s;
  s << "rank " << r << " owns ids [" << range.start << ", " << range.end << "): mine =";
  for (auto id : ids) s << ' ' << (range.contains(id) ? 1 : 0);
  s << ", local index =";
  for (auto id : ids) {
    if (range.contains(id))
      s << ' ' << id - range.start;
    else
      s << " -";
  }
  return s.str();
}

}  // namespace

PerRank<Matrix> VocabParallelEmbedding::partial_embeddings(World& world, const std::vector<std::int64_t>& ids,
                                                           const std::string& label) const {
  check_token_ids(ids, V_);
  if (world.size() != p())
    throw std::invalid_argument(label + ": the embedding is split across tp " + std::to_string(p()) +
                                " but the world has " + std::to_string(world.size()) + " ranks");
  const auto T = static_cast<Eigen::Index>(ids.size());
  auto partial = make_per_rank(p(), [&](int r) -> Matrix {
    const VocabRange mine = range(r);
    // -0.0f, the additive identity: the all-reduce then returns v exactly (file comment of the header).
    Matrix out = Matrix::Constant(T, hidden_size(), -0.0f);
    for (Eigen::Index t = 0; t < T; ++t) {
      const std::int64_t id = ids[static_cast<std::size_t>(t)];
      if (mine.contains(id)) out.row(t) = weight()[r].row(id - mine.start);
    }
    return out;
  });
  if (world.narrator() != nullptr) {
    narrate_text(world, "== " + label + ": each rank's range and mask ==");
    for (int r = 0; r < p(); ++r) narrate_text(world, describe_rank(r, range(r), ids));
    Narrator* nr = world.narrator();
    if (T > 16) {
      narrate(world, label + ": partial rows (zeros, printed -0.0000, for tokens that are not mine)", partial);
    } else {
      // Every row, so a rank's own rows are never cut off by the narrator's row limit.
      nr->title(label + ": partial rows, every token (zeros, printed -0.0000, for tokens that are not mine)");
      for (int r = 0; r < p(); ++r) {
        nr->text("rank " + std::to_string(r) + " " + shape_string(partial[r]) + ":");
        for (Eigen::Index t = 0; t < T; ++t) {
          const std::int64_t id = ids[static_cast<std::size_t>(t)];
          char head[64];
          std::snprintf(head, sizeof head, "  t=%-2lld id %-6lld %-4s ", static_cast<long long>(t),
                        static_cast<long long>(id), range(r).contains(id) ? "mine" : "-");
          nr->text(head + nr->format_row(partial[r], t));
        }
      }
    }
  }
  return partial;
}

PerRank<Matrix> VocabParallelEmbedding::forward(World& world, const std::vector<std::int64_t>& ids,
                                                const std::string& label) const {
  const PerRank<Matrix> partial = partial_embeddings(world, ids, label);
  PerRank<Matrix> out = all_reduce(world, partial, order_, label);
  narrate(world, label + ": after the all-reduce (sum), every rank holds the full embeddings", out);
  return out;
}

void VocabParallelEmbedding::account_memory(World& world, const std::string& label) const {
  for (int r = 0; r < p(); ++r) world.memory().hold(r, MemoryKind::Weight, label + ".weight", weight()[r]);
}

}  // namespace atp::sim
