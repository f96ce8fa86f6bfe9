/// \file test_collectives.cpp
/// \brief The simulator's sharding helpers, ring schedule and collectives,
///        each checked bit for bit against an expectation written out here.
///
/// Every expected value is computed in this file by its own loop (e.g. the
/// explicit ((x0 + x1) + x2) + x3 per element), never by the code under test.
/// Inputs come from the counter generator, so sums really round and a wrong
/// order shows up as different bits. Byte counts live in test_trace.cpp.
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/rng.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/ring_schedule.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"
#include "atp/ulp.hpp"

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

using atp::Matrix;
using namespace atp::sim;

using atp::test::contains;
using atp::test::error_of;
using atp::test::require_bitwise;

namespace {

constexpr int kRankCounts[] = {1, 2, 3, 4, 8};

/// Rank r's input: a random (R, C) matrix from stream 100 + r. The scale 1/3
/// gives full 24-bit significands (raw counter values are multiples of 2^-23,
/// whose sums are often exact), so different orders really round differently.
PerRank<Matrix> inputs(int p, Eigen::Index R, Eigen::Index C, std::uint64_t seed = 7) {
  std::vector<Matrix> v;
  for (int r = 0; r < p; ++r)
    v.push_back(atp::random_matrix(R, C, seed, 100 + static_cast<std::uint64_t>(r), 1.0f / 3.0f));
  return PerRank<Matrix>(std::move(v));
}

/// Element i of rank r's input, flattened row-major.
float at(const PerRank<Matrix>& x, int r, Eigen::Index i) { return x[r].data()[i]; }




}  // namespace

TEST_CASE("split_rows and split_cols slice the master; concat puts it back") {
  const Matrix W = atp::random_matrix(8, 12, 1, 0);
  for (int p : {1, 2, 4}) {
    CAPTURE(p);
    const auto rows = split_rows(W, p);
    const auto cols = split_cols(W, p);
    REQUIRE(rows.size() == p);
    for (int r = 0; r < p; ++r) {
      REQUIRE(rows[r].rows() == 8 / p);
      REQUIRE(cols[r].cols() == 12 / p);
      for (Eigen::Index i = 0; i < 8 / p; ++i)
        for (Eigen::Index j = 0; j < 12; ++j) REQUIRE(atp::float_bits(rows[r](i, j)) == atp::float_bits(W(r * (8 / p) + i, j)));
      for (Eigen::Index i = 0; i < 8; ++i)
        for (Eigen::Index j = 0; j < 12 / p; ++j) REQUIRE(atp::float_bits(cols[r](i, j)) == atp::float_bits(W(i, r * (12 / p) + j)));
    }
    require_bitwise(concat_rows(rows), W, "concat_rows");
    require_bitwise(concat_cols(cols), W, "concat_cols");
    const auto copies = replicate(W, p);
    for (int r = 0; r < p; ++r) require_bitwise(copies[r], W, "replicate");
  }
}

TEST_CASE("sharding refuses uneven splits and bad ranks with a message naming the values") {
  const Matrix W(6, 10);
  const auto e1 = error_of([&] { split_rows(W, 4); });
  CHECK(contains(e1, "rows of (6, 10) = 6 is not divisible by p = 4"));
  const auto e2 = error_of([&] { split_cols(W, 3); });
  CHECK(contains(e2, "cols of (6, 10) = 10 is not divisible by p = 3"));
  CHECK(contains(error_of([] { divide(7, 0, "heads"); }), "p = 0"));
  CHECK(contains(error_of([] { World w(0); }), "p = 0"));
  PerRank<Matrix> x(3);
  CHECK(contains(error_of([&] { x[3]; }), "rank 3 out of range; valid ranks are 0..2"));
  PerRank<Matrix> mixed(std::vector<Matrix>{Matrix(2, 3), Matrix(2, 4)});
  CHECK(contains(error_of([&] { concat_rows(mixed); }), "rank 1 holds (2, 4) but rank 0 holds (2, 3)"));
}

TEST_CASE("ring_schedule: chunks, NCCL's order, every rank sends and receives once per step") {
  // p = 4, n = 8: chunks of 2; at reduce-scatter step 0 rank r sends chunk r-1.
  const auto s = ring_schedule(4, 8);
  REQUIRE(s.size() == 2u * 3u * 4u);
  CHECK(describe(s[0]) == "reduce-scatter step 0: rank 0 -> rank 1 chunk 3 [6, 8)");
  CHECK(describe(s[5]) == "reduce-scatter step 1: rank 1 -> rank 2 chunk 3 [6, 8)");
  CHECK(describe(s[12]) == "all-gather step 0: rank 0 -> rank 1 chunk 0 [0, 2)");

  // n not divisible by p, and n < p (empty trailing chunks).
  struct Case { int p; std::int64_t n; std::vector<std::pair<std::int64_t, std::int64_t>> chunks; };
  const std::vector<Case> cases = {
      {4, 15, {{0, 4}, {4, 8}, {8, 12}, {12, 15}}},
      {8, 3, {{0, 1}, {1, 2}, {2, 3}, {3, 3}, {3, 3}, {3, 3}, {3, 3}, {3, 3}}},
      {3, 0, {{0, 0}, {0, 0}, {0, 0}}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.p);
    CAPTURE(c.n);
    for (int k = 0; k < c.p; ++k) {
      const auto range = ring_chunk(c.p, c.n, k);
      CHECK(range.begin == c.chunks[static_cast<std::size_t>(k)].first);
      CHECK(range.end == c.chunks[static_cast<std::size_t>(k)].second);
    }
    const auto steps = ring_schedule(c.p, c.n);
    REQUIRE(steps.size() == static_cast<std::size_t>(2 * (c.p - 1) * c.p));
    for (std::size_t k = 0; k < steps.size(); ++k) {
      const auto& st = steps[k];
      // Listed by phase, then step, then sender: entry k is rank k % p's send.
      CHECK(st.src == static_cast<int>(k) % c.p);
      CHECK(st.step == static_cast<int>(k / static_cast<std::size_t>(c.p)) % (c.p - 1));
      CHECK(st.dst == (st.src + 1) % c.p);
      const int want = st.phase == RingPhase::ReduceScatter ? ((st.src - st.step - 1) % c.p + c.p) % c.p
                                                            : ((st.src - st.step) % c.p + c.p) % c.p;
      CHECK(st.chunk == want);
    }
  }
  CHECK(ring_schedule(1, 10).empty());
  CHECK(contains(error_of([] { ring_chunk(4, 8, 4); }), "chunk 4 out of range; valid chunks are 0..3"));
}

TEST_CASE("all_reduce_rank_order: ((x0 + x1) + x2) + ... on every rank, bitwise") {
  for (int p : kRankCounts) {
    CAPTURE(p);
    World world(p);
    const auto x = inputs(p, 3, 7);
    const auto y = all_reduce_rank_order(world, x, "x");
    Matrix want(3, 7);
    for (Eigen::Index i = 0; i < want.size(); ++i) {
      float acc = at(x, 0, i);
      for (int r = 1; r < p; ++r) acc = acc + at(x, r, i);
      want.data()[i] = acc;
    }
    for (int r = 0; r < p; ++r) require_bitwise(y[r], want, "rank " + std::to_string(r));
  }
  // The same, spelled out for p = 4.
  World world(4);
  const auto x = inputs(4, 2, 5, 11);
  const auto y = all_reduce_rank_order(world, x, "x");
  for (Eigen::Index i = 0; i < 10; ++i)
    REQUIRE(atp::float_bits(y[2].data()[i]) ==
            atp::float_bits(((at(x, 0, i) + at(x, 1, i)) + at(x, 2, i)) + at(x, 3, i)));
}

TEST_CASE("all_reduce_ring: chunk c is ((x[c+1] + x[c+2]) + ...) + x[c], on every rank") {
  struct Shape { Eigen::Index R, C; };
  // 64 elements (divisible), 15 (not divisible by 2, 4, 8), 1 x 3 (n < p for p = 4, 8).
  for (const Shape sh : {Shape{8, 8}, Shape{3, 5}, Shape{1, 3}}) {
    for (int p : kRankCounts) {
      CAPTURE(p);
      CAPTURE(sh.R * sh.C);
      World world(p);
      const auto x = inputs(p, sh.R, sh.C);
      const auto y = all_reduce_ring(world, x, "x");
      const Eigen::Index n = sh.R * sh.C;
      const Eigen::Index chunk = (n + p - 1) / p;
      Matrix want(sh.R, sh.C);
      for (Eigen::Index i = 0; i < n; ++i) {
        const int c = static_cast<int>(i / chunk);
        float acc = at(x, (c + 1) % p, i);
        for (int k = 2; k <= p; ++k) acc = acc + at(x, (c + k) % p, i);
        want.data()[i] = acc;
      }
      for (int r = 0; r < p; ++r) require_bitwise(y[r], want, "rank " + std::to_string(r));
    }
  }
  // p = 3, n = 3: one element per chunk, each association written out.
  World world(3);
  const auto x = inputs(3, 1, 3, 5);
  const auto y = all_reduce_ring(world, x, "x");
  const auto e = [&](int r, int i) { return at(x, r, i); };
  CHECK(atp::float_bits(y[0](0, 0)) == atp::float_bits((e(1, 0) + e(2, 0)) + e(0, 0)));
  CHECK(atp::float_bits(y[1](0, 1)) == atp::float_bits((e(2, 1) + e(0, 1)) + e(1, 1)));
  CHECK(atp::float_bits(y[2](0, 2)) == atp::float_bits((e(0, 2) + e(1, 2)) + e(2, 2)));
}

TEST_CASE("ring and rank order: the same bits at p = 2, different bits at p >= 3") {
  {
    World world(2);
    const auto x = inputs(2, 16, 16);
    const auto ring = all_reduce_ring(world, x, "x");
    const auto ordered = all_reduce_rank_order(world, x, "x");
    Matrix sum(16, 16);
    for (Eigen::Index i = 0; i < sum.size(); ++i) sum.data()[i] = at(x, 0, i) + at(x, 1, i);
    for (int r = 0; r < 2; ++r) {
      require_bitwise(ring[r], sum, "ring p=2");
      require_bitwise(ordered[r], sum, "rank order p=2");
    }
  }
  for (int p : {3, 4, 8}) {
    CAPTURE(p);
    World world(p);
    const auto x = inputs(p, 16, 16);
    const auto ring = all_reduce_ring(world, x, "x");
    const auto ordered = all_reduce_rank_order(world, x, "x");
    const auto report = atp::compare_bitwise(ring[0], ordered[0]);
    INFO(report.describe("ring vs rank order"));
    CHECK(report.differing > 0);
    // A reordered sum, not garbage: both within p rounding errors of sum |x_r|.
    for (Eigen::Index i = 0; i < ring[0].size(); ++i) {
      double abs_sum = 0.0;
      for (int r = 0; r < p; ++r) abs_sum += std::fabs(static_cast<double>(at(x, r, i)));
      const double gap = std::fabs(static_cast<double>(ring[0].data()[i]) - static_cast<double>(ordered[0].data()[i]));
      REQUIRE(gap <= 2.0 * p * 0x1p-24 * abs_sum);
    }
  }
}

TEST_CASE("all_gather concatenates in rank order along rows or cols") {
  for (int p : kRankCounts) {
    CAPTURE(p);
    World world(p);
    const auto x = inputs(p, 2, 3);
    const auto rows = all_gather(world, x, Axis::Rows, "x");
    const auto cols = all_gather(world, x, Axis::Cols, "x");
    Matrix want_rows(2 * p, 3), want_cols(2, 3 * p);
    for (Eigen::Index i = 0; i < 2 * p; ++i)
      for (Eigen::Index j = 0; j < 3; ++j) want_rows(i, j) = x[static_cast<int>(i / 2)](i % 2, j);
    for (Eigen::Index i = 0; i < 2; ++i)
      for (Eigen::Index j = 0; j < 3 * p; ++j) want_cols(i, j) = x[static_cast<int>(j / 3)](i, j % 3);
    for (int r = 0; r < p; ++r) {
      require_bitwise(rows[r], want_rows, "all_gather rows");
      require_bitwise(cols[r], want_cols, "all_gather cols");
    }
  }
}

TEST_CASE("reduce_scatter: rank r keeps block r of the rank-order sum") {
  for (int p : kRankCounts) {
    CAPTURE(p);
    World world(p);
    const auto x = inputs(p, 8, 24);  // 8 and 24 divide by 1, 2, 4, 8; 24 by 3
    const auto sum_at = [&](Eigen::Index i, Eigen::Index j) {
      float acc = x[0](i, j);
      for (int r = 1; r < p; ++r) acc = acc + x[r](i, j);
      return acc;
    };
    const auto cols = reduce_scatter(world, x, Axis::Cols, "x");
    for (int r = 0; r < p; ++r) {
      const Eigen::Index w = 24 / p;
      Matrix want(8, w);
      for (Eigen::Index i = 0; i < 8; ++i)
        for (Eigen::Index j = 0; j < w; ++j) want(i, j) = sum_at(i, r * w + j);
      require_bitwise(cols[r], want, "reduce_scatter cols, rank " + std::to_string(r));
    }
    if (8 % p != 0) continue;
    const auto rows = reduce_scatter(world, x, Axis::Rows, "x");
    for (int r = 0; r < p; ++r) {
      const Eigen::Index h = 8 / p;
      Matrix want(h, 24);
      for (Eigen::Index i = 0; i < h; ++i)
        for (Eigen::Index j = 0; j < 24; ++j) want(i, j) = sum_at(r * h + i, j);
      require_bitwise(rows[r], want, "reduce_scatter rows, rank " + std::to_string(r));
    }
  }
}

TEST_CASE("broadcast gives every rank root's matrix; gather gives it to root only") {
  for (int p : kRankCounts) {
    for (int root : {0, p - 1}) {
      CAPTURE(p);
      CAPTURE(root);
      World world(p);
      auto x = inputs(p, 3, 4);
      const Matrix root_value = x[root];
      // Receive buffers: empty on even ranks, root-shaped (garbage) on odd ones.
      PerRank<Matrix> buffers = x;
      for (int r = 0; r < p; ++r)
        if (r != root && r % 2 == 0) buffers[r] = Matrix(0, 0);
      const auto b = broadcast(world, buffers, root, "x");
      for (int r = 0; r < p; ++r) require_bitwise(b[r], root_value, "broadcast rank " + std::to_string(r));

      const auto g = gather(world, x, root, Axis::Rows, "x");
      Matrix want(3 * p, 4);
      for (Eigen::Index i = 0; i < 3 * p; ++i)
        for (Eigen::Index j = 0; j < 4; ++j) want(i, j) = x[static_cast<int>(i / 3)](i % 3, j);
      for (int r = 0; r < p; ++r) {
        if (r == root) {
          require_bitwise(g[r], want, "gather root");
        } else {
          CHECK(g[r].rows() == 0);
          CHECK(g[r].cols() == 0);
        }
      }
    }
  }
}

TEST_CASE("p = 1 is the identity for every collective") {
  World world(1);
  const auto x = inputs(1, 4, 6);
  require_bitwise(all_reduce_rank_order(world, x, "x")[0], x[0], "all_reduce_rank_order");
  require_bitwise(all_reduce_ring(world, x, "x")[0], x[0], "all_reduce_ring");
  require_bitwise(all_gather(world, x, Axis::Rows, "x")[0], x[0], "all_gather");
  require_bitwise(reduce_scatter(world, x, Axis::Cols, "x")[0], x[0], "reduce_scatter");
  require_bitwise(broadcast(world, x, 0, "x")[0], x[0], "broadcast");
  require_bitwise(gather(world, x, 0, Axis::Cols, "x")[0], x[0], "gather");
}

TEST_CASE("collectives reject bad arguments with messages naming the bad values") {
  World world(4);
  const auto good = inputs(4, 2, 8);
  const auto three = inputs(3, 2, 8);
  auto mixed = good;
  mixed[2] = Matrix(3, 8);

  const auto wrong_count = error_of([&] { all_reduce_ring(world, three, "h"); });
  CHECK(contains(wrong_count, "all_reduce_ring 'h'"));
  CHECK(contains(wrong_count, "got matrices for 3 ranks but the world has p = 4"));

  for (const auto& msg : {error_of([&] { all_reduce_rank_order(world, mixed, "h"); }),
                          error_of([&] { all_reduce_ring(world, mixed, "h"); }),
                          error_of([&] { all_gather(world, mixed, Axis::Rows, "h"); }),
                          error_of([&] { reduce_scatter(world, mixed, Axis::Cols, "h"); }),
                          error_of([&] { gather(world, mixed, 0, Axis::Rows, "h"); })}) {
    // Both calls are named, as the GPU's ATP_COLLECTIVE_CHECK names them (collective_call.hpp).
    CHECK(contains(msg, "rank 2 called"));
    CHECK(contains(msg, "of 24 float32 (3, 8)"));
    CHECK(contains(msg, "but rank 0 called"));
    CHECK(contains(msg, "of 16 float32 (2, 8)"));
  }
  const auto root = error_of([&] { broadcast(world, good, 4, "emb"); });
  CHECK(contains(root, "broadcast 'emb': root: rank 4 out of range; valid ranks are 0..3"));
  CHECK(contains(error_of([&] { gather(world, good, -1, Axis::Rows, "g"); }), "rank -1 out of range"));
  const auto recv = error_of([&] { broadcast(world, mixed, 0, "emb"); });
  CHECK(contains(recv, "rank 2 passes a receive buffer of (3, 8) but root 0 holds (2, 8)"));
  const auto split = error_of([&] { reduce_scatter(world, good, Axis::Rows, "rs"); });
  CHECK(contains(split, "reduce_scatter 'rs': rows of (2, 8) = 2 is not divisible by p = 4"));
}
