/// \file test_ch03_row_parallel.cpp
/// \brief Chapter 3: RowParallelLinear on the simulator.
///
/// Against the float64 dense reference (atp::linear_ref) with an elementwise
/// bound, because splitting each dot product and re-adding the pieces in the
/// all-reduce changes the rounding; bitwise where the math allows it (every
/// rank holds the same bits; p = 1 is the dense layer; the all-reduce is the
/// rank-order sum of the partial sums, recomputed here by its own loop).
/// Also: the bias is added once and its two placements differ in bits, the
/// trace shows exactly one all-reduce, each rank holds 1/p of the weight.
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/dense_reference.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"

#include <cmath>
#include <string>
#include <vector>

using atp::Matrix;
using atp::MatrixD;
using namespace atp::sim;
using atp::test::contains;
using atp::test::error_of;
using atp::test::require_bitwise;

namespace {

// T = 6 tokens, in = 48 (divisible by every p tried), out = 12.
constexpr int kT = 6, kIn = 48, kOut = 12;
const std::vector<int> kPs = {1, 2, 3, 4, 8};

Matrix weight() { return atp::random_matrix(kOut, kIn, 11, 1, 1.0f / 7.0f); }
Matrix bias(float scale = 0.5f) { return atp::random_matrix(1, kOut, 11, 2, scale); }
Matrix input(std::uint64_t seed = 11) { return atp::random_matrix(kT, kIn, seed, 3); }

// Tolerance, elementwise: each output is in products plus one bias, summed
// along some tree of depth <= in + 1 with one rounding per fma or add, so
// Higham's bound |err| <= gamma_{in+1} (sum_k |x_k w_k| + |b|), gamma_n = n u / (1 - n u), u = 2^-24, holds.
void require_within_bound(const Matrix& y, const Matrix& x, const Matrix& W, const Matrix* b, const std::string& name) {
  const MatrixD bd = b ? atp::to_double(*b) : MatrixD();
  const MatrixD ref = atp::linear_ref(atp::to_double(x), atp::to_double(W), b ? &bd : nullptr);
  const double u = std::ldexp(1.0, -24), n = kIn + 1;
  const double gamma = n * u / (1.0 - n * u);
  for (int i = 0; i < y.rows(); ++i)
    for (int j = 0; j < y.cols(); ++j) {
      double mag = b ? std::fabs(static_cast<double>((*b)(0, j))) : 0.0;
      for (int k = 0; k < x.cols(); ++k) mag += std::fabs(static_cast<double>(x(i, k)) * static_cast<double>(W(j, k)));
      const double err = std::fabs(static_cast<double>(y(i, j)) - ref(i, j));
      INFO(name << " (" << i << ", " << j << "): got " << y(i, j) << ", float64 " << ref(i, j) << ", bound "
                << gamma * mag);
      REQUIRE(err <= gamma * mag);
    }
}

// ((y_0 + y_1) + y_2) + ..., written out here rather than taken from the simulator.
Matrix rank_order_by_hand(const PerRank<Matrix>& parts) {
  Matrix s = parts[0];
  for (int r = 1; r < parts.size(); ++r)
    for (int i = 0; i < s.rows(); ++i)
      for (int j = 0; j < s.cols(); ++j) s(i, j) = s(i, j) + parts[r](i, j);
  return s;
}

}  // namespace

TEST_CASE("ch03: shard r holds cols [r*in/p, (r+1)*in/p) of W; the bias is not sharded") {
  const Matrix W = weight(), b = bias();
  for (int p : kPs) {
    const auto layer = RowParallelLinear::from_master(W, &b, p);
    const int n = kIn / p;
    CHECK(layer.in_features() == kIn);
    CHECK(layer.out_features() == kOut);
    require_bitwise(layer.bias(), b, "bias");
    for (int r = 0; r < p; ++r) {
      REQUIRE(layer.weight()[r].rows() == kOut);
      REQUIRE(layer.weight()[r].cols() == n);
      for (int i = 0; i < kOut; ++i)
        for (int j = 0; j < n; ++j) REQUIRE(layer.weight()[r](i, j) == W(i, r * n + j));
    }
  }
}

TEST_CASE("ch03: within the float64 bound for every p, order and bias placement; every rank holds the same bits") {
  const Matrix W = weight(), b = bias(), x = input();
  for (int p : kPs)
    for (auto order : {ReduceOrder::RankOrder, ReduceOrder::Ring})
      for (auto place : {BiasPlacement::AfterReduce, BiasPlacement::Rank0BeforeReduce}) {
        CAPTURE(p);
        World world(p);
        const auto layer = RowParallelLinear::from_master(W, &b, p, {.order = order, .bias_placement = place});
        const auto y = layer.forward(world, split_cols(x, p), "proj");
        const std::string name = std::string(to_string(order)) + "/" + to_string(place);
        require_within_bound(y[0], x, W, &b, name);
        for (int r = 1; r < p; ++r) require_bitwise(y[r], y[0], name + " rank " + std::to_string(r) + " vs rank 0");
      }
}

TEST_CASE("ch03: p = 1 is the dense layer bit for bit; p >= 2 is not") {
  const Matrix W = weight(), b = bias(), x = input();
  const Matrix dense = atp::linear(x, W, &b);
  World one(1);
  require_bitwise(RowParallelLinear::from_master(W, &b, 1).forward(one, split_cols(x, 1), "proj")[0], dense, "p = 1");
  for (int p : {2, 4, 8}) {
    World world(p);
    const Matrix y = RowParallelLinear::from_master(W, &b, p).forward(world, split_cols(x, p), "proj")[0];
    CAPTURE(p);
    CHECK_FALSE(atp::compare_bitwise(y, dense).equal());
  }
}

TEST_CASE("ch03: the result is the rank-order sum of the partial sums, plus the bias once after it") {
  const Matrix W = weight(), b = bias(), x = input();
  for (int p : kPs) {
    CAPTURE(p);
    World world(p);
    const auto layer = RowParallelLinear::from_master(W, &b, p);
    const auto parts = layer.partial_sums(world, split_cols(x, p), "proj");
    for (int r = 0; r < p; ++r)  // partial sums are plain linears of the slices, no bias under after-reduce
      require_bitwise(parts[r], atp::linear(Matrix(x.middleCols(r * (kIn / p), kIn / p)), layer.weight()[r], nullptr),
                      "y_" + std::to_string(r));
    Matrix want = rank_order_by_hand(parts);
    for (int i = 0; i < kT; ++i)
      for (int j = 0; j < kOut; ++j) want(i, j) = want(i, j) + b(0, j);
    World fresh(p);
    require_bitwise(layer.forward(fresh, split_cols(x, p), "proj")[p - 1], want, "after-reduce");

    World v(p);
    const auto vllm = RowParallelLinear::from_master(W, &b, p, {.bias_placement = BiasPlacement::Rank0BeforeReduce});
    const auto vparts = vllm.partial_sums(v, split_cols(x, p), "proj");
    require_bitwise(vparts[0], atp::linear(Matrix(x.middleCols(0, kIn / p)), vllm.weight()[0], &b), "y_0 + b");
    require_bitwise(vllm.forward(v, split_cols(x, p), "proj")[0], rank_order_by_hand(vparts), "rank0-before-reduce");
  }
}

TEST_CASE("ch03: the two bias placements round differently, and both add the bias exactly once") {
  const Matrix W = weight(), x = input();
  int differing = 0;
  for (int p : {2, 4}) {
    const Matrix b = bias();
    World a(p), v(p);
    const Matrix ya = RowParallelLinear::from_master(W, &b, p).forward(a, split_cols(x, p), "proj")[0];
    const Matrix yv = RowParallelLinear::from_master(W, &b, p, {.bias_placement = BiasPlacement::Rank0BeforeReduce})
                          .forward(v, split_cols(x, p), "proj")[0];
    differing += atp::compare_bitwise(ya, yv).count;
  }
  CHECK(differing > 0);

  // A bias of ~1000 next to outputs of ~1: adding it p times would be off by thousands.
  const Matrix big = bias(2048.0f);
  for (int p : kPs)
    for (auto place : {BiasPlacement::AfterReduce, BiasPlacement::Rank0BeforeReduce}) {
      CAPTURE(p);
      World world(p);
      const auto y = RowParallelLinear::from_master(W, &big, p, {.bias_placement = place})
                         .forward(world, split_cols(x, p), "proj");
      require_within_bound(y[0], x, W, &big, to_string(place));
    }
}

TEST_CASE("ch03: input_is_parallel = false splits a replicated x here, with the same bits") {
  const Matrix W = weight(), b = bias(), x = input();
  for (int p : kPs) {
    World a(p), c(p);
    const auto split_here = RowParallelLinear::from_master(W, &b, p, {.input_is_parallel = false});
    const auto y1 = split_here.forward(a, replicate(x, p), "proj");
    const auto y2 = RowParallelLinear::from_master(W, &b, p).forward(c, split_cols(x, p), "proj");
    for (int r = 0; r < p; ++r) require_bitwise(y1[r], y2[r], "rank " + std::to_string(r));
    CHECK(a.trace().count(ops::kAllGather) == 0);  // scattering to the region moves nothing
  }
}

TEST_CASE("ch03: reduce_results = false returns the partial sums; ring equals rank order for p <= 2") {
  const Matrix W = weight(), b = bias(), x = input();
  World w(4);
  const auto unreduced = RowParallelLinear::from_master(
      W, &b, 4, {.reduce_results = false, .bias_placement = BiasPlacement::Rank0BeforeReduce});
  const auto parts = unreduced.forward(w, split_cols(x, 4), "proj");
  CHECK(w.trace().count(ops::kAllReduceRankOrder) == 0);
  World w2(4);
  const auto parts2 = unreduced.partial_sums(w2, split_cols(x, 4), "proj");
  for (int r = 0; r < 4; ++r) require_bitwise(parts[r], parts2[r], "partial " + std::to_string(r));
  for (int p : {1, 2}) {
    World a(p), c(p);
    const auto yr = RowParallelLinear::from_master(W, &b, p).forward(a, split_cols(x, p), "proj");
    const auto yg =
        RowParallelLinear::from_master(W, &b, p, {.order = ReduceOrder::Ring}).forward(c, split_cols(x, p), "proj");
    require_bitwise(yg[0], yr[0], "ring vs rank order, p = " + std::to_string(p));
  }
}

TEST_CASE("ch03: the trace shows exactly one all-reduce, with the bytes of its model") {
  const Matrix W = weight(), b = bias(), x = input();
  for (int p : kPs) {
    CAPTURE(p);
    World world(p);
    RowParallelLinear::from_master(W, &b, p).forward(world, split_cols(x, p), "proj");
    CHECK(world.trace().count(ops::kAllReduceRankOrder) == 1);
    CHECK(world.trace().count(ops::kAllReduceRing) == 0);
    CHECK(world.trace().count(ops::kAllGather) == 0);
    CHECK(world.trace().count(kMatmulOp) == p);
    for (int r = 0; r < p; ++r) {
      // Rank order = ring all-gather of the (T, out) partial sums: p-1 blocks out, p-1 in.
      CHECK(world.trace().bytes_sent(r) == 4LL * kT * kOut * (p - 1));
      CHECK(world.trace().bytes_received(r) == 4LL * kT * kOut * (p - 1));
      CHECK(world.trace().flops(r, kMatmulOp) == 2LL * kT * kOut * (kIn / p));
    }
    World ring(p);
    RowParallelLinear::from_master(W, &b, p, {.order = ReduceOrder::Ring}).forward(ring, split_cols(x, p), "proj");
    CHECK(ring.trace().count(ops::kAllReduceRing) == 1);
    CHECK(ring.trace().count(ops::kAllReduceRankOrder) == 0);
  }
}

TEST_CASE("ch03: each rank holds 1/p of the dense weight bytes (plus its copy of the bias)") {
  const Matrix W = weight(), b = bias();
  for (int p : kPs) {
    World world(p), with_bias(p);
    RowParallelLinear::from_master(W, nullptr, p).account_memory(world, "proj");
    RowParallelLinear::from_master(W, &b, p).account_memory(with_bias, "proj");
    for (int r = 0; r < p; ++r) {
      CHECK(world.memory().bytes(r, MemoryKind::Weight) * p == atp::fp32_bytes(kOut, kIn));
      CHECK(with_bias.memory().bytes(r, MemoryKind::Weight) ==
            atp::fp32_bytes(kOut, kIn) / p + atp::fp32_bytes(1, kOut));
    }
  }
}

TEST_CASE("ch03: indivisible sizes, bad inputs and impossible options are refused with the values named") {
  const Matrix W10 = atp::random_matrix(6, 10, 1, 1);
  CHECK(contains(error_of([&] { RowParallelLinear::from_master(W10, nullptr, 4); }),
                 "in_features 10 is not divisible by tp 4; valid tp: 1, 2, 5, 10"));
  const Matrix bad_bias = atp::random_matrix(1, 5, 1, 2), b = atp::random_matrix(1, 6, 1, 3);
  CHECK(contains(error_of([&] { RowParallelLinear::from_master(W10, &bad_bias, 2); }), "(1, 6)"));
  CHECK(contains(error_of([&] { RowParallelLinear::from_master(W10, &b, 2, {.reduce_results = false}); }),
                 "reduce_results = false"));
  const auto layer = RowParallelLinear::from_master(W10, &b, 2);
  World world(2);
  const std::string full = error_of([&] { layer.forward(world, replicate(atp::random_matrix(3, 10, 1, 4), 2), "p"); });
  CHECK(contains(full, "(3, 10)"));
  CHECK(contains(full, "(3, 5)"));
  CHECK(contains(full, "input_is_parallel"));
  const auto split_here = RowParallelLinear::from_master(W10, &b, 2, {.input_is_parallel = false});
  CHECK(contains(error_of([&] { split_here.forward(world, split_cols(atp::random_matrix(3, 10, 1, 5), 2), "p"); }),
                 "(3, 10)"));
  CHECK(contains(error_of([] { (void)parse_reduce_order("butterfly"); }), "valid: rank-order, ring, tree"));
  CHECK(contains(error_of([] { (void)parse_bias_placement("twice"); }), "after-reduce, rank0-before-reduce"));
}
