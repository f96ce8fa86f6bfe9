/// \file test_ch06_vocab_parallel.cpp
/// \brief Chapter 6: the vocabulary-parallel embedding and LM head on the
/// simulator. Padding and ranges, shards equal to slices, embeddings bitwise
/// equal to the dense lookup for p in {1, 2, 3, 4, 8} in both all-reduce
/// orders, bad ids, memory and bytes from the trace, logits against the
/// float64 reference and bitwise against the dense fp32 logits, the greedy
/// argmax with planted cross-rank ties, narrated mode.
///
/// Expected values come from plain loops in this file (the dense lookup is
/// `table.row(id)`, the dense argmax a loop over atp::matmul_nt's logits),
/// never from the layers under test.
#include "test_util.hpp"

#include "../chapters/06-vocab-parallel-embedding/vocab_inputs.hpp"

#include "atp/dense_reference.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"
#include "atp/sim/world.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <vector>

namespace sim = atp::sim;
using atp::Matrix;
using atp::test::contains;
using atp::test::error_of;
using atp::test::require_bitwise;

namespace {

Matrix table_for(std::int64_t V, std::int64_t H, std::uint64_t seed = 11) {
  return atp::random_matrix(V, H, seed, 0, 1.0f / 3.0f);
}

// Ids that hit every rank: 0, V-1, every range's first and last id, and a few from the generator.
std::vector<std::int64_t> ids_for(std::int64_t V, int p) {
  std::vector<std::int64_t> ids{0, V - 1};
  for (int r = 0; r < p; ++r) {
    const auto range = sim::vocab_range(V, p, r);
    if (range.size() > 0) {
      ids.push_back(range.start);
      ids.push_back(range.end - 1);
    }
  }
  for (std::uint64_t t = 0; t < 9; ++t)
    ids.push_back(static_cast<std::int64_t>(atp::counter_bits(5, 3, t) % static_cast<std::uint64_t>(V)));
  return ids;
}

Matrix dense_lookup(const Matrix& table, const std::vector<std::int64_t>& ids) {
  Matrix out(static_cast<Eigen::Index>(ids.size()), table.cols());
  for (std::size_t t = 0; t < ids.size(); ++t) out.row(static_cast<Eigen::Index>(t)) = table.row(ids[t]);
  return out;
}

// The vocabularies each p is tested on: multiples of 64 p, and sizes that are not.
std::vector<std::int64_t> vocabs_for(int p) {
  std::vector<std::int64_t> v{64 * p, 64 * p * 3, 150};  // 150 pads to 192, which 1, 2, 3, 4, 8 divide
  if (p != 3) v.push_back(1000);                        // 1000 pads to 1024
  return v;
}

std::vector<std::int64_t> dense_argmax_loop(const Matrix& z) {
  std::vector<std::int64_t> out;
  for (Eigen::Index t = 0; t < z.rows(); ++t) {
    Eigen::Index best = 0;
    for (Eigen::Index j = 1; j < z.cols(); ++j)
      if (z(t, j) > z(t, best)) best = j;
    out.push_back(best);
  }
  return out;
}

}  // namespace

TEST_CASE("the vocabulary pads to a multiple of 64 and splits into contiguous ranges clipped to V") {
  CHECK(sim::pad_vocab_size(1000) == 1024);
  CHECK(sim::pad_vocab_size(64) == 64);
  CHECK(sim::pad_vocab_size(1) == 64);
  CHECK(sim::pad_vocab_size(32000) == 32000);
  CHECK(sim::vocab_per_rank(150, 4) == 48);
  const auto last = sim::vocab_range(150, 4, 3);
  CHECK(last.start == 144);
  CHECK(last.end == 150);
  const auto empty = sim::vocab_range(150, 8, 7);  // n = 24: rank 7 would own [168, 192), all padding
  CHECK(empty.size() == 0);
  for (int p : {1, 2, 3, 4, 8})
    for (std::int64_t V : vocabs_for(p)) {
      std::int64_t next = 0;
      for (int r = 0; r < p; ++r) {
        const auto range = sim::vocab_range(V, p, r);
        CHECK(range.start == next);  // contiguous, disjoint, covering [0, V)
        next = range.end;
      }
      CHECK(next == V);
    }
  const std::string e = error_of([] { sim::vocab_per_rank(1000, 3); });
  CHECK(contains(e, "1000"));
  CHECK(contains(e, "V_pad = 1024"));
  CHECK(contains(e, "tp 3"));
  CHECK(contains(e, "valid tp: 1, 2, 4, 8, 16"));
  CHECK(contains(error_of([] { sim::VocabParallelEmbedding::from_master(table_for(150, 4), 5); }), "V_pad = 192"));
}

TEST_CASE("shard r is the slice of the padded table, and the padding rows are zero") {
  for (int p : {1, 2, 3, 4, 8})
    for (std::int64_t V : vocabs_for(p)) {
      CAPTURE(p);
      CAPTURE(V);
      const Matrix table = table_for(V, 5);
      const auto emb = sim::VocabParallelEmbedding::from_master(table, p);
      const std::int64_t n = sim::pad_vocab_size(V) / p;
      REQUIRE(emb.rows_per_rank() == n);
      for (int r = 0; r < p; ++r) {
        REQUIRE(emb.weight()[r].rows() == n);
        for (std::int64_t i = 0; i < n; ++i) {
          const std::int64_t id = r * n + i;
          if (id < V)
            require_bitwise(Matrix(emb.weight()[r].row(i)), Matrix(table.row(id)), "shard row");
          else
            CHECK(emb.weight()[r].row(i).isZero(0.0f));
        }
      }
    }
}

TEST_CASE("embeddings are bitwise equal to the dense lookup for p in {1,2,3,4,8}, in rank order and in ring order") {
  for (int p : {1, 2, 3, 4, 8})
    for (std::int64_t V : vocabs_for(p))
      for (auto order : {sim::ReduceOrder::RankOrder, sim::ReduceOrder::Ring}) {
        CAPTURE(p);
        CAPTURE(V);
        CAPTURE(sim::to_string(order));
        const Matrix table = table_for(V, 7);
        const auto ids = ids_for(V, p);
        const auto emb = sim::VocabParallelEmbedding::from_master(table, p, order);
        sim::World world(p);
        const auto out = emb.forward(world, ids, "emb");
        const Matrix want = dense_lookup(table, ids);
        for (int r = 0; r < p; ++r) require_bitwise(out[r], want, "embeddings on rank " + std::to_string(r));
        CHECK(world.trace().count(order == sim::ReduceOrder::Ring ? sim::ops::kAllReduceRing
                                                                  : sim::ops::kAllReduceRankOrder) == 1);
      }
}

TEST_CASE("foreign tokens are -0.0, so even a stored -0.0 survives every order (+0.0 would not)") {
  // Why -0.0: IEEE 754 gives -0 + +0 = +0, so a +0.0 fill would turn a stored -0.0 into +0.0.
  CHECK(std::bit_cast<std::uint32_t>(-0.0f + 0.0f) == 0u);
  CHECK(std::bit_cast<std::uint32_t>(-0.0f + -0.0f) == 0x80000000u);
  Matrix table = table_for(150, 4);
  table(100, 2) = -0.0f;
  table(7, 0) = 0.0f;
  const std::vector<std::int64_t> ids{100, 7, 149};
  for (auto order : {sim::ReduceOrder::RankOrder, sim::ReduceOrder::Ring}) {
    const auto emb = sim::VocabParallelEmbedding::from_master(table, 4, order);
    sim::World world(4);
    const auto partial = emb.partial_embeddings(world, ids, "emb");
    CHECK(std::bit_cast<std::uint32_t>(partial[0](0, 0)) == 0x80000000u);  // rank 0 does not own id 100
    const auto out = emb.forward(world, ids, "emb");
    for (int r = 0; r < 4; ++r) {
      CHECK(std::bit_cast<std::uint32_t>(out[r](0, 2)) == 0x80000000u);
      CHECK(std::bit_cast<std::uint32_t>(out[r](1, 0)) == 0u);
      require_bitwise(out[r], dense_lookup(table, ids), "embeddings with signed zeros");
    }
  }
}

TEST_CASE("each token is mine on exactly one rank, with local index id - start_r") {
  const std::int64_t V = 150;
  const int p = 4;
  const auto emb = sim::VocabParallelEmbedding::from_master(table_for(V, 3), p);
  const std::vector<std::int64_t> ids{123, 145, 100, 96, 4, 64, 47, 48, 149};
  const auto masks = emb.masks(ids);
  const auto local = emb.local_indices(ids);
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const int owner = static_cast<int>(ids[t] / 48);
    for (int r = 0; r < p; ++r) {
      CHECK(masks[r](static_cast<Eigen::Index>(t), 0) == (r == owner ? 1.0f : 0.0f));
      CHECK(local[r][t] == (r == owner ? ids[t] - 48 * owner : 0));
    }
  }
  sim::World world(p);
  const auto partial = emb.partial_embeddings(world, ids, "emb");
  for (int r = 0; r < p; ++r)
    for (std::size_t t = 0; t < ids.size(); ++t)
      if (masks[r](static_cast<Eigen::Index>(t), 0) == 0.0f)
        CHECK(partial[r].row(static_cast<Eigen::Index>(t)).isZero(0.0f));
  CHECK(world.trace().events().empty());  // the partial lookup communicates nothing
}

TEST_CASE("a bad token id is an error naming the id, its position and V") {
  const auto emb = sim::VocabParallelEmbedding::from_master(table_for(150, 4), 4);
  sim::World world(4);
  const std::string neg = error_of([&] { emb.forward(world, {3, 7, -1}, "emb"); });
  CHECK(contains(neg, "token id -1"));
  CHECK(contains(neg, "position 2"));
  CHECK(contains(neg, "[0, 150)"));
  const std::string big = error_of([&] { emb.partial_embeddings(world, {150, 2}, "emb"); });
  CHECK(contains(big, "token id 150"));
  CHECK(contains(big, "position 0"));
  CHECK(contains(error_of([&] { emb.masks({0, 151}); }), "token id 151 at position 1"));
  // 160 is below V_pad = 192: a padding row exists there, but it is not a token.
  CHECK(contains(error_of([&] { emb.forward(world, {160}, "emb"); }), "token id 160"));
  CHECK(world.trace().events().empty());
}

TEST_CASE("memory per rank is V_pad/p * H * 4 bytes, and a tied LM head adds none") {
  const auto emb = sim::VocabParallelEmbedding::from_master(table_for(1000, 16), 8);
  sim::World world(8);
  emb.account_memory(world, "embedding");
  for (int r = 0; r < 8; ++r) CHECK(world.memory().bytes(r, sim::MemoryKind::Weight) == 1024 / 8 * 16 * 4);
  const auto tied = sim::ParallelLMHead::tied(emb);
  CHECK(tied.is_tied_to(emb));
  CHECK(&tied.weight() == &emb.weight());  // the same storage, not a copy
  tied.account_memory(world, "lm_head", &emb);
  CHECK(world.memory().bytes(0, sim::MemoryKind::Weight) == 8192);
  const auto untied = sim::ParallelLMHead::from_master(table_for(1000, 16), 8);
  CHECK_FALSE(untied.is_tied_to(emb));
  untied.account_memory(world, "lm_head", &emb);
  CHECK(world.memory().bytes(0, sim::MemoryKind::Weight) == 2 * 8192);
}

TEST_CASE("all-reduce bytes per forward from the trace: T*H*4*2(p-1)/p for the ring, T*H*4*(p-1) in rank order") {
  const std::int64_t T = 6, H = 8;
  for (int p : {1, 2, 4, 8}) {
    CAPTURE(p);
    const std::vector<std::int64_t> ids{1, 2, 3, 4, 5, 6};
    sim::World ring_world(p), order_world(p);
    sim::VocabParallelEmbedding::from_master(table_for(150, H), p, sim::ReduceOrder::Ring).forward(ring_world, ids, "e");
    sim::VocabParallelEmbedding::from_master(table_for(150, H), p).forward(order_world, ids, "e");
    for (int r = 0; r < p; ++r) {
      CHECK(ring_world.trace().bytes_sent(r, sim::ops::kAllReduceRing) == T * H * 4 * 2 * (p - 1) / p);
      CHECK(order_world.trace().bytes_sent(r, sim::ops::kAllReduceRankOrder) == T * H * 4 * (p - 1));
    }
  }
}

TEST_CASE("logits: bitwise equal to the dense fp32 x W^T, close to float64, all-gathered or gathered to rank 0") {
  const std::int64_t V = 150, H = 24, T = 5;
  const Matrix W = table_for(V, H, 3);
  const Matrix x = atp::random_matrix(T, H, 3, 2, 1.0f / 3.0f);
  const Matrix dense = atp::matmul_nt(x, W);
  const atp::MatrixD ref = atp::linear_ref(atp::to_double(x), atp::to_double(W), nullptr);
  for (int p : {1, 2, 3, 4, 8}) {
    CAPTURE(p);
    const auto head = sim::ParallelLMHead::from_master(W, p);
    sim::World world(p);
    const auto xr = sim::replicate(x, p);
    const auto local = head.local_logits(world, xr, "lm");
    const std::int64_t n = sim::pad_vocab_size(V) / p;
    for (int r = 0; r < p; ++r) {
      REQUIRE(local[r].cols() == n);
      const auto range = head.range(r);
      require_bitwise(Matrix(local[r].leftCols(range.size())), Matrix(dense.middleCols(range.start, range.size())),
                      "local logits = columns of the dense logits");
    }
    const auto all = head.gather_logits(world, local, sim::LogitsCollective::AllGather, "lm");
    for (int r = 0; r < p; ++r) require_bitwise(all[r], dense, "all-gathered logits, padding trimmed");
    const auto root = head.gather_logits(world, local, sim::LogitsCollective::Gather, "lm");
    require_bitwise(root[0], dense, "gathered logits on rank 0");
    for (int r = 1; r < p; ++r) CHECK(root[r].size() == 0);
    // Tolerance: each logit is a chain of H fmas, one rounding each, so |error| <= H * 2^-24 * sum |x_k w_k|.
    for (Eigen::Index t = 0; t < T; ++t)
      for (Eigen::Index v = 0; v < V; ++v) {
        double mag = 0.0;
        for (Eigen::Index k = 0; k < H; ++k) mag += std::fabs(static_cast<double>(x(t, k)) * W(v, k));
        REQUIRE(std::fabs(all[0](t, v) - ref(t, v)) <= static_cast<double>(H) * 0x1p-24 * mag);
      }
  }
  CHECK(sim::parse_logits_collective("gather") == sim::LogitsCollective::Gather);
  CHECK(contains(error_of([] { sim::parse_logits_collective("scatter"); }), "all-gather, gather"));
}

TEST_CASE("the vocab-parallel argmax equals the dense argmax, ties across ranks going to the lowest id") {
  const std::int64_t V = 150, H = 16, T = 7;
  Matrix W = table_for(V, H, 9);
  const Matrix x = atp::random_matrix(T, H, 9, 2, 1.0f / 3.0f);
  // Plant exact ties across ranks: ids 20 (rank 0 at p = 4), 100 (rank 2) and 145 (rank 3)
  // share one weight row that beats every other row for token 0.
  Matrix winner = x.row(0) * 4.0f;
  for (std::int64_t id : {145, 100, 20}) W.row(id) = winner;
  // Token 1: ids 60 and 61 tie within one rank (for every p here) and 130 on another rank.
  winner = x.row(1) * 4.0f;
  for (std::int64_t id : {130, 61, 60}) W.row(id) = winner;
  const Matrix dense = atp::matmul_nt(x, W);
  const auto want = dense_argmax_loop(dense);
  REQUIRE(want[0] == 20);
  REQUIRE(want[1] == 60);
  REQUIRE(dense(0, 20) == dense(0, 145));  // the tie is exact
  CHECK(sim::dense_argmax(dense) == want);
  for (int p : {1, 2, 3, 4, 8}) {
    CAPTURE(p);
    const auto head = sim::ParallelLMHead::from_master(W, p);
    sim::World world(p);
    const auto local = head.local_logits(world, sim::replicate(x, p), "lm");
    const auto got = head.argmax(world, local, "lm");
    for (int r = 0; r < p; ++r) CHECK(got[r] == want);
    // Bytes: pairs (T, 2) all-gathered, against the full logits' (T, n) all-gather.
    const std::int64_t pairs = world.trace().bytes_sent(0, sim::ops::kAllGather);
    CHECK(pairs == T * 2 * 4 * (p - 1));
    sim::World full(p);
    head.gather_logits(full, local, sim::LogitsCollective::AllGather, "lm");
    CHECK(full.trace().bytes_sent(0, sim::ops::kAllGather) == T * (sim::pad_vocab_size(V) / p) * 4 * (p - 1));
  }
}

TEST_CASE("argmax pairs: lowest index within a rank, empty ranges lose, the combine prefers the lower id on ties") {
  Matrix z(2, 4);
  z << 1.0f, 3.0f, 3.0f, 9.0f,  // column 3 is padding: skipped
      -2.0f, -2.0f, -5.0f, 0.0f;
  const Matrix pairs = sim::local_argmax_pairs(z, {40, 43}, 150);
  CHECK(pairs(0, 0) == 3.0f);
  CHECK(pairs(0, 1) == 41.0f);
  CHECK(pairs(1, 0) == -2.0f);
  CHECK(pairs(1, 1) == 40.0f);
  const Matrix none = sim::local_argmax_pairs(z, {150, 150}, 150);
  CHECK(none(0, 0) == -std::numeric_limits<float>::infinity());
  CHECK(none(0, 1) == 150.0f);
  Matrix gathered(1, 6);
  gathered << 3.0f, 41.0f, 3.0f, 7.0f, -std::numeric_limits<float>::infinity(), 150.0f;
  CHECK(sim::combine_argmax_pairs(gathered) == std::vector<std::int64_t>{7});
  CHECK(contains(error_of([] { sim::combine_argmax_pairs(Matrix(1, 3)); }), "2p columns"));
  CHECK(contains(error_of([&] { sim::local_argmax_pairs(z, {0, 5}, 150); }), "does not fit"));
}

TEST_CASE("narrated mode shows each rank's range, mask, zero partial rows and the identical result") {
  std::ostringstream out;
  sim::World world(4);
  world.narrate_to(out);
  const auto emb = sim::VocabParallelEmbedding::from_master(table_for(150, 4), 4);
  emb.forward(world, {123, 145, 100, 4}, "embedding");
  const std::string s = out.str();
  CHECK(contains(s, "rank 0 owns ids [0, 48): mine = 0 0 0 1, local index = - - - 4"));
  CHECK(contains(s, "rank 3 owns ids [144, 150): mine = 0 1 0 0, local index = - 1 - -"));
  CHECK(contains(s, "-0.0000  -0.0000  -0.0000  -0.0000"));
  CHECK(contains(s, "after the all-reduce (sum), every rank holds the full embeddings"));
}

TEST_CASE("--ids parses a comma list and names a piece that is not an integer") {
  CHECK(atp::ch06::parse_ids("3, 145,52") == std::vector<std::int64_t>{3, 145, 52});
  CHECK(atp::ch06::parse_ids("-1") == std::vector<std::int64_t>{-1});  // range checks are the layer's
  const std::string e = error_of([] { atp::ch06::parse_ids("3,x,4"); });
  CHECK(contains(e, "'x'"));
  CHECK(contains(e, "position 1"));
  CHECK(contains(error_of([] { atp::ch06::parse_ids("7,3.5"); }), "'3.5'"));
  const auto ids = atp::ch06::make_ids(50, 150, 2026);
  for (auto id : ids) CHECK((id >= 0 && id < 150));
}
