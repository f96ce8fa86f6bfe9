/// \file test_ch02_column_parallel.cpp
/// \brief Chapter 2: ColumnParallelLinear and MergedColumnParallelLinear on the simulator.
///
/// The claims of the chapter, each tied to a test: shard r is the slice of
/// the master weight; the layer's output is bitwise equal to the dense
/// atp::linear (no dot product is split) for every p that divides out, with
/// and without gather_output; the trace shows no collective, or exactly one
/// all-gather; each rank holds 1/p of the weight bytes; bad shapes are refused
/// with messages that name the values. Expected values come from atp::linear
/// on the whole master weight (the single-device layer), sliced here by hand.
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/layers/column_parallel_linear.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"

#include <string>
#include <vector>

using atp::Matrix;
using namespace atp::sim;
using atp::test::contains;
using atp::test::error_of;
using atp::test::require_bitwise;

namespace {

// T = 5 tokens, in = 20, out = 24: 24 is divisible by every p the chapter tries.
constexpr int kT = 5, kIn = 20, kOut = 24;
const std::vector<int> kPs = {1, 2, 3, 4, 8};

Matrix weight() { return atp::random_matrix(kOut, kIn, 7, 1, 1.0f / 3.0f); }
Matrix bias() { return atp::random_matrix(1, kOut, 7, 2, 0.5f); }
Matrix input() { return atp::random_matrix(kT, kIn, 7, 3); }

}  // namespace

TEST_CASE("ch02: shard r holds rows [r*out/p, (r+1)*out/p) of W and the same columns of b") {
  const Matrix W = weight(), b = bias();
  for (int p : kPs) {
    const auto layer = ColumnParallelLinear::from_master(W, &b, p);
    const int n = kOut / p;
    CHECK(layer.p() == p);
    CHECK(layer.in_features() == kIn);
    CHECK(layer.out_features() == kOut);
    for (int r = 0; r < p; ++r) {
      REQUIRE(layer.weight()[r].rows() == n);
      REQUIRE(layer.weight()[r].cols() == kIn);
      REQUIRE(layer.bias()[r].rows() == 1);
      REQUIRE(layer.bias()[r].cols() == n);
      for (int i = 0; i < n; ++i) {
        for (int j = 0; j < kIn; ++j) REQUIRE(layer.weight()[r](i, j) == W(r * n + i, j));
        REQUIRE(layer.bias()[r](0, i) == b(0, r * n + i));
      }
    }
  }
}

TEST_CASE("ch02: the column-parallel output is bitwise equal to the dense layer's columns") {
  const Matrix W = weight(), b = bias(), x = input();
  const Matrix dense = atp::linear(x, W, &b);
  for (int p : kPs) {
    CAPTURE(p);
    World world(p);
    const auto layer = ColumnParallelLinear::from_master(W, &b, p);
    const auto y = layer.forward(world, replicate(x, p), "fc");
    for (int r = 0; r < p; ++r) {
      const Matrix slice = dense.middleCols(r * (kOut / p), kOut / p);
      require_bitwise(y[r], slice, "y_" + std::to_string(r) + " at p = " + std::to_string(p));
    }
  }
}

TEST_CASE("ch02: with gather_output every rank holds the whole dense output, bitwise") {
  const Matrix W = weight(), b = bias(), x = input();
  const Matrix dense = atp::linear(x, W, &b);
  for (int p : kPs) {
    CAPTURE(p);
    World world(p);
    const auto layer = ColumnParallelLinear::from_master(W, &b, p, {.gather_output = true});
    const auto y = layer.forward(world, replicate(x, p), "fc");
    for (int r = 0; r < p; ++r) require_bitwise(y[r], dense, "gathered y on rank " + std::to_string(r));
  }
}

TEST_CASE("ch02: skip_bias_add leaves the bias out; no bias is the same as skipping it") {
  const Matrix W = weight(), b = bias(), x = input();
  const Matrix dense = atp::linear(x, W, nullptr);
  World world(4);
  const auto skipped = ColumnParallelLinear::from_master(W, &b, 4, {.gather_output = true, .skip_bias_add = true});
  const auto none = ColumnParallelLinear::from_master(W, nullptr, 4, {.gather_output = true});
  CHECK_FALSE(none.has_bias());
  CHECK(none.bias()[2].size() == 0);
  require_bitwise(skipped.forward(world, replicate(x, 4), "a")[1], dense, "skip_bias_add");
  require_bitwise(none.forward(world, replicate(x, 4), "b")[3], dense, "no bias");
}

TEST_CASE("ch02: the trace shows no collective, or exactly one all-gather with ring bytes") {
  const Matrix W = weight(), b = bias(), x = input();
  for (int p : kPs) {
    CAPTURE(p);
    World plain(p);
    ColumnParallelLinear::from_master(W, &b, p).forward(plain, replicate(x, p), "fc");
    CHECK(plain.trace().count(kMatmulOp) == p);
    for (int r = 0; r < p; ++r) {
      CHECK(plain.trace().bytes_sent(r) == 0);
      CHECK(plain.trace().bytes_received(r) == 0);
      CHECK(plain.trace().flops(r, kMatmulOp) == 2LL * kT * (kOut / p) * kIn);
    }
    CHECK(plain.trace().events().size() == static_cast<std::size_t>(p));  // matmuls only

    World gathered(p);
    ColumnParallelLinear::from_master(W, &b, p, {.gather_output = true}).forward(gathered, replicate(x, p), "fc");
    CHECK(gathered.trace().count(ops::kAllGather) == 1);
    CHECK(gathered.trace().count(ops::kAllReduceRankOrder) == 0);
    CHECK(gathered.trace().count(ops::kAllReduceRing) == 0);
    // Ring all-gather: each rank forwards p-1 blocks of its (T, out/p) output.
    for (int r = 0; r < p; ++r)
      CHECK(gathered.trace().bytes_sent(r, ops::kAllGather) == 4LL * kT * (kOut / p) * (p - 1));
  }
}

TEST_CASE("ch02: each rank holds 1/p of the dense weight bytes") {
  const Matrix W = weight(), b = bias();
  for (int p : kPs) {
    World world(p);
    ColumnParallelLinear::from_master(W, &b, p).account_memory(world, "fc");
    for (int r = 0; r < p; ++r)
      CHECK(world.memory().bytes(r, MemoryKind::Weight) == (atp::fp32_bytes(kOut, kIn) + atp::fp32_bytes(1, kOut)) / p);
  }
}

TEST_CASE("ch02: indivisible sizes and mismatched inputs are refused with the values named") {
  const Matrix W10 = atp::random_matrix(10, 6, 1, 1);
  const std::string msg = error_of([&] { ColumnParallelLinear::from_master(W10, nullptr, 4); });
  CHECK(contains(msg, "out_features 10 is not divisible by tp 4; valid tp: 1, 2, 5, 10"));
  CHECK(contains(error_of([&] { ColumnParallelLinear::from_master(W10, nullptr, 0); }), "tp must be >= 1"));
  const Matrix bad_bias = atp::random_matrix(1, 9, 1, 2);
  CHECK(contains(error_of([&] { ColumnParallelLinear::from_master(W10, &bad_bias, 2); }), "(1, 10)"));

  const auto layer = ColumnParallelLinear::from_master(W10, nullptr, 2);
  World world(2);
  const PerRank<Matrix> wrong_in = replicate(atp::random_matrix(3, 7, 1, 3), 2);
  const std::string bad_x = error_of([&] { layer.forward(world, wrong_in, "fc"); });
  CHECK(contains(bad_x, "(3, 7)"));
  CHECK(contains(bad_x, "(3, 6)"));
  PerRank<Matrix> ragged(std::vector<Matrix>{atp::random_matrix(3, 6, 1, 4), atp::random_matrix(4, 6, 1, 5)});
  CHECK(contains(error_of([&] { layer.forward(world, ragged, "fc"); }), "rank 1"));
  World other(4);
  CHECK(contains(error_of([&] { layer.forward(other, replicate(atp::random_matrix(3, 6, 1, 6), 4), "fc"); }), "tp 2"));
}

TEST_CASE("ch02: MergedColumnParallelLinear stacks rank r's slice of each master") {
  const Matrix W0 = atp::random_matrix(8, kIn, 9, 1, 1.0f / 3.0f), W1 = atp::random_matrix(12, kIn, 9, 2, 1.0f / 3.0f);
  const Matrix b0 = atp::random_matrix(1, 8, 9, 3), b1 = atp::random_matrix(1, 12, 9, 4), x = input();
  const Matrix d0 = atp::linear(x, W0, &b0), d1 = atp::linear(x, W1, &b1);
  for (int p : {1, 2, 4}) {
    CAPTURE(p);
    World world(p);
    const auto merged = MergedColumnParallelLinear::from_masters({W0, W1}, {&b0, &b1}, p);
    CHECK(merged.out_features() == 20);
    CHECK(merged.output_sizes() == std::vector<Eigen::Index>{8, 12});
    const int n0 = 8 / p, n1 = 12 / p;
    for (int r = 0; r < p; ++r) {
      for (int j = 0; j < kIn; ++j) {
        for (int i = 0; i < n0; ++i) REQUIRE(merged.weight()[r](i, j) == W0(r * n0 + i, j));
        for (int i = 0; i < n1; ++i) REQUIRE(merged.weight()[r](n0 + i, j) == W1(r * n1 + i, j));
      }
    }
    const auto y = merged.forward(world, replicate(x, p), "gate_up");
    CHECK(world.trace().count(kMatmulOp) == p);  // one fused matmul per rank
    const auto y0 = merged.output_part(y, 0), y1 = merged.output_part(y, 1);
    for (int r = 0; r < p; ++r) {
      require_bitwise(y0[r], Matrix(d0.middleCols(r * n0, n0)), "gate slice");
      require_bitwise(y1[r], Matrix(d1.middleCols(r * n1, n1)), "up slice");
    }
    World gw(p);
    const auto g = MergedColumnParallelLinear::from_masters({W0, W1}, {&b0, &b1}, p, {.gather_output = true})
                       .forward(gw, replicate(x, p), "gate_up");
    Matrix want(kT, 20);
    want << d0, d1;
    for (int r = 0; r < p; ++r) require_bitwise(g[r], want, "gathered [gate | up]");
  }
  CHECK(contains(error_of([&] {
                   MergedColumnParallelLinear::from_masters({W0, W1}, {}, 8);
                 }),
                 "weight 1 out_features 12 is not divisible by tp 8"));
  CHECK(contains(error_of([&] {
                   MergedColumnParallelLinear::from_masters({W0, W1}, {&b0, nullptr}, 2);
                 }),
                 "every merged weight has a bias or none"));
}
