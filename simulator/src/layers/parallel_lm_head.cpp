/// \file parallel_lm_head.cpp
/// \brief ParallelLMHead on the simulator (chapter 6): local logits, the
///        logits gather, and the vocab-parallel greedy argmax.
#include "atp/sim/layers/parallel_lm_head.hpp"

#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/narrate.hpp"

#include <limits>
#include <stdexcept>
#include <utility>

namespace atp::sim {

const char* to_string(LogitsCollective c) { return c == LogitsCollective::Gather ? "gather" : "all-gather"; }

LogitsCollective parse_logits_collective(const std::string& text) {
  if (text == "all-gather") return LogitsCollective::AllGather;
  if (text == "gather") return LogitsCollective::Gather;
  throw std::invalid_argument("logits collective '" + text + "' is not one of: all-gather, gather");
}

Matrix local_argmax_pairs(const Matrix& local_logits, const VocabRange& range, std::int64_t V) {
  if (range.size() < 0 || range.size() > local_logits.cols())
    throw std::invalid_argument("local_argmax_pairs: range [" + std::to_string(range.start) + ", " +
                                std::to_string(range.end) + ") does not fit logits " + shape_string(local_logits));
  if (V > kMaxArgmaxVocab)
    throw std::invalid_argument("local_argmax_pairs: vocabulary " + std::to_string(V) +
                                " exceeds 2^24; ids would not travel exactly as floats");
  Matrix pairs(local_logits.rows(), 2);
  for (Eigen::Index t = 0; t < local_logits.rows(); ++t) {
    float best = -std::numeric_limits<float>::infinity();
    std::int64_t id = V;  // an empty range loses every comparison
    for (Eigen::Index j = 0; j < range.size(); ++j)
      if (id == V || local_logits(t, j) > best) {  // strict >: the lowest j wins among equal values
        best = local_logits(t, j);
        id = range.start + j;
      }
    pairs(t, 0) = best;
    pairs(t, 1) = static_cast<float>(id);
  }
  return pairs;
}

std::vector<std::int64_t> combine_argmax_pairs(const Matrix& gathered) {
  if (gathered.cols() < 2 || gathered.cols() % 2 != 0)
    throw std::invalid_argument("combine_argmax_pairs: gathered pairs " + shape_string(gathered) +
                                " must have 2p columns, p >= 1");
  std::vector<std::int64_t> out(static_cast<std::size_t>(gathered.rows()));
  for (Eigen::Index t = 0; t < gathered.rows(); ++t) {
    float best = gathered(t, 0);
    auto id = static_cast<std::int64_t>(gathered(t, 1));
    for (Eigen::Index q = 2; q < gathered.cols(); q += 2) {
      const float v = gathered(t, q);
      const auto i = static_cast<std::int64_t>(gathered(t, q + 1));
      if (v > best || (v == best && i < id)) {
        best = v;
        id = i;
      }
    }
    out[static_cast<std::size_t>(t)] = id;
  }
  return out;
}

std::vector<std::int64_t> dense_argmax(const Matrix& logits) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(logits.rows()), 0);
  for (Eigen::Index t = 0; t < logits.rows(); ++t)
    for (Eigen::Index j = 1; j < logits.cols(); ++j)
      if (logits(t, j) > logits(t, out[static_cast<std::size_t>(t)])) out[static_cast<std::size_t>(t)] = j;
  return out;
}

ParallelLMHead ParallelLMHead::from_master(const Matrix& W, int p) {
  if (W.rows() < 1 || W.cols() < 1)
    throw std::invalid_argument("ParallelLMHead: the weight " + shape_string(W) +
                                " must have at least one row (V) and one column (H)");
  vocab_per_rank(W.rows(), p);
  return from_shards(make_per_rank(p, [&](int r) -> Matrix { return vocab_shard(W, p, r); }), W.rows());
}

ParallelLMHead ParallelLMHead::from_shards(PerRank<Matrix> shards, std::int64_t V) {
  const int p = shards.size();
  vocab_per_rank(V, p);
  for (int r = 0; r < p; ++r) {
    check_vocab_shard(shards[r], V, p, r, "ParallelLMHead");
    if (shards[r].cols() != shards[0].cols())
      throw std::invalid_argument("ParallelLMHead: rank " + std::to_string(r) + " holds " + shape_string(shards[r]) +
                                  " but rank 0 holds " + shape_string(shards[0]));
  }
  return ParallelLMHead(std::make_shared<const PerRank<Matrix>>(std::move(shards)), V);
}

ParallelLMHead ParallelLMHead::tied(const VocabParallelEmbedding& embedding) {
  return ParallelLMHead(embedding.shared_weight(), embedding.vocab_size());
}

PerRank<Matrix> ParallelLMHead::local_logits(World& world, const PerRank<Matrix>& x, const std::string& label) const {
  if (world.size() != p() || x.size() != p())
    throw std::invalid_argument(label + ": the LM head is split across tp " + std::to_string(p()) +
                                " but the world has " + std::to_string(world.size()) + " ranks and x holds " +
                                std::to_string(x.size()));
  for (int r = 0; r < p(); ++r)
    if (x[r].cols() != hidden_size() || x[r].rows() != x[0].rows())
      throw std::invalid_argument(label + ": x on rank " + std::to_string(r) + " is " + shape_string(x[r]) +
                                  " but must be (T, H) = (" + std::to_string(x[0].rows()) + ", " +
                                  std::to_string(hidden_size()) + "), the same on every rank");
  auto z = make_per_rank(p(), [&](int r) -> Matrix { return linear(world, r, x[r], weight()[r], nullptr, label); });
  narrate(world, label + ": local logits z_r = x W_r^T, (T, V_pad/p), padding columns included", z);
  return z;
}

PerRank<Matrix> ParallelLMHead::gather_logits(World& world, const PerRank<Matrix>& local, LogitsCollective collective,
                                              const std::string& label) const {
  PerRank<Matrix> out(p());
  if (collective == LogitsCollective::AllGather) {
    const auto full = all_gather(world, local, Axis::Cols, label);
    for (int r = 0; r < p(); ++r) out[r] = full[r].leftCols(V_);  // the padding ids V.. are the last columns
  } else {
    const auto full = gather(world, local, 0, Axis::Cols, label);
    out[0] = full[0].leftCols(V_);
    for (int r = 1; r < p(); ++r) out[r] = Matrix(0, 0);
  }
  narrate(world, label + ": logits after the " + std::string(to_string(collective)) + ", padding trimmed", out);
  return out;
}

PerRank<Matrix> ParallelLMHead::forward(World& world, const PerRank<Matrix>& x, LogitsCollective collective,
                                        const std::string& label) const {
  return gather_logits(world, local_logits(world, x, label), collective, label);
}

PerRank<std::vector<std::int64_t>> ParallelLMHead::argmax(World& world, const PerRank<Matrix>& local,
                                                          const std::string& label) const {
  auto pairs = make_per_rank(p(), [&](int r) -> Matrix { return local_argmax_pairs(local[r], range(r), V_); });
  narrate(world, label + ": each rank's (max value, global id) per token", pairs);
  const auto gathered = all_gather(world, pairs, Axis::Cols, label + ".argmax_pairs");
  return make_per_rank(p(), [&](int r) -> std::vector<std::int64_t> { return combine_argmax_pairs(gathered[r]); });
}

void ParallelLMHead::account_memory(World& world, const std::string& label,
                                    const VocabParallelEmbedding* tied_to) const {
  if (tied_to != nullptr && is_tied_to(*tied_to)) return;
  for (int r = 0; r < p(); ++r) world.memory().hold(r, MemoryKind::Weight, label + ".weight", weight()[r]);
}

}  // namespace atp::sim
