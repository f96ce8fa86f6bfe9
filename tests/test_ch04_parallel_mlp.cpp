/// \file test_ch04_parallel_mlp.cpp
/// \brief Chapter 4: ParallelMLP (GELU) and ParallelGatedMLP (SwiGLU) against
///        the float64 dense reference, bit for bit against their contract
///        (column slices exact, rank-order all-reduce), one all-reduce per
///        forward from the trace, weight memory per rank from the ledger, the
///        merged gate/up layout, and the errors for sizes p does not divide.
///
/// Expected values come from the float64 reference (dense_reference.hpp), from
/// plain loops over atp::dot written here, or from the dense fp32 atp::linear;
/// never from the layers under test. Inputs: x uniform on [-1.7, 1.7), weights
/// scaled by 1.7/sqrt(in) (as the chapter binary), so every sum rounds.
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/activations.hpp"
#include "atp/dense_reference.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using atp::Matrix;
using atp::MatrixD;
using namespace atp::sim;
using atp::test::contains;
using atp::test::error_of;

namespace {

constexpr int kT = 5, kH = 24, kI = 48;  // I/p and H/p whole for p in {1, 2, 3, 4, 8}
constexpr double kU = 0x1p-24;           // fp32 unit roundoff

/// x and masters as the chapter: streams 0..5, scales 1.7 and 1.7/sqrt(in), biases 1/3.
struct Masters {
  Matrix x, W_gate, W_up, b_up, W_down, b_down;
};
Masters masters(std::uint64_t seed) {
  auto s = [](int in) { return static_cast<float>(1.7 / std::sqrt(static_cast<double>(in))); };
  return {atp::random_matrix(kT, kH, seed, 0, 1.7f),     atp::random_matrix(kI, kH, seed, 5, s(kH)),
          atp::random_matrix(kI, kH, seed, 1, s(kH)),    atp::random_matrix(1, kI, seed, 2, 1.0f / 3.0f),
          atp::random_matrix(kH, kI, seed, 3, s(kI)),    atp::random_matrix(1, kH, seed, 4, 1.0f / 3.0f)};
}

/// Worst-case rounding error of fp32 sums of K = cols(A) products (Higham's
/// gamma_n = n u), with `extra` more additions (all-reduce terms, bias):
/// max over outputs of (K + extra) u sum_k |a_k w_k|, computed in float64.
double dot_error_bound(const MatrixD& A, const MatrixD& W, int extra) {
  const MatrixD mag = A.cwiseAbs() * W.cwiseAbs().transpose();
  return (static_cast<double>(A.cols()) + extra) * kU * mag.maxCoeff();
}

/// max_k sum |W_nk|: how much an error of e in each input can move an output (times e).
double row_l1(const MatrixD& W) { return W.cwiseAbs().rowwise().sum().maxCoeff(); }

/// The columns [r c, (r+1) c) of each rank's (T, 2c) [g_r | u_r], put back as [G | U] (T, 2I).
Matrix join_gate_up(const PerRank<Matrix>& gu) {
  const Eigen::Index c = gu[0].cols() / 2, I = c * gu.size();
  Matrix out(gu[0].rows(), 2 * I);
  for (int r = 0; r < gu.size(); ++r) {
    out.middleCols(r * c, c) = gu[r].leftCols(c);
    out.middleCols(I + r * c, c) = gu[r].rightCols(c);
  }
  return out;
}

/// y = ((a_0 W_0^T + a_1 W_1^T) + ...) + bias, every partial an atp::dot: the
/// row-parallel contract written out by hand (no simulator code).
Matrix rank_order_down(const PerRank<Matrix>& a, const Matrix& W_down, const Matrix* bias) {
  const int p = a.size();
  const Eigen::Index c = a[0].cols();
  Matrix y(a[0].rows(), W_down.rows());
  for (Eigen::Index t = 0; t < y.rows(); ++t)
    for (Eigen::Index n = 0; n < y.cols(); ++n) {
      float acc = 0.0f;
      for (int r = 0; r < p; ++r) {
        const Matrix Wr = W_down.middleCols(r * c, c);  // row-major copy: contiguous row n
        const float part = atp::dot(&a[r](t, 0), &Wr(n, 0), static_cast<int>(c));
        acc = r == 0 ? part : acc + part;
      }
      y(t, n) = bias ? acc + (*bias)(0, n) : acc;
    }
  return y;
}

}  // namespace

TEST_CASE("ch04: activations.hpp: gelu picks its form, swiglu is silu(gate) * up, bad names are refused") {
  for (float v : {-3.25f, -0.7f, -0.0f, 0.0f, 0.3f, 1.5f, 6.0f}) {
    CHECK(atp::float_bits(atp::gelu(atp::GeluForm::Tanh, v)) == atp::float_bits(atp::gelu_tanh(v)));
    CHECK(atp::float_bits(atp::gelu(atp::GeluForm::Erf, v)) == atp::float_bits(atp::gelu_erf(v)));
    const float u = 0.37f - v;
    const float want = atp::silu(v) * u;
    CHECK(atp::float_bits(atp::swiglu(v, u)) == atp::float_bits(want));
  }
  CHECK(atp::parse_gelu_form("erf") == atp::GeluForm::Erf);
  CHECK(std::string(atp::gelu_form_name(atp::GeluForm::Tanh)) == "tanh");
  CHECK(contains(error_of([] { atp::parse_gelu_form("exact"); }), "'exact' is unknown; valid: tanh, erf"));
  CHECK(contains(error_of([] { swiglu(Matrix::Zero(2, 5)); }), "(2, 5)"));
}

TEST_CASE("ch04: ParallelMLP (GELU) is within tolerance of the float64 dense MLP for p in {1, 2, 3, 4, 8}") {
  const Masters m = masters(41);
  const MatrixD x = atp::to_double(m.x), W_up = atp::to_double(m.W_up), b_up = atp::to_double(m.b_up);
  const MatrixD W_down = atp::to_double(m.W_down), b_down = atp::to_double(m.b_down);
  const MatrixD h_ref = atp::linear_ref(x, W_up, &b_up);
  for (auto form : {atp::GeluForm::Tanh, atp::GeluForm::Erf}) {
    const MatrixD a_ref = form == atp::GeluForm::Tanh ? atp::gelu_tanh_ref(h_ref) : atp::gelu_erf_ref(h_ref);
    const MatrixD y_ref = atp::linear_ref(a_ref, W_down, &b_down);
    for (int p : {1, 2, 3, 4, 8}) {
      CAPTURE(p);
      CAPTURE(atp::gelu_form_name(form));
      World world(p);
      const auto mlp = ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, p, {form, ReduceOrder::RankOrder});
      const auto f = mlp.forward_steps(world, replicate(m.x, p), "mlp");
      // h: one fp32 dot of H terms plus the bias add, on one rank: gamma_(H+1) sum|x w|.
      const double tol_h = dot_error_bound(x, W_up, 1) + kU;
      CHECK(atp::max_abs_error(concat_cols(f.intermediate), h_ref) <= tol_h);
      // a: GELU's slope is below 1.13, plus its own error of under 3 ulp (numerics.hpp).
      const double tol_a = 1.13 * tol_h + 3.0 * 2 * kU * a_ref.cwiseAbs().maxCoeff();
      CHECK(atp::max_abs_error(concat_cols(f.activated), a_ref) <= tol_a);
      // y: a sum of I products cut into p pieces, p-1 adds to join them, one bias add,
      // plus the activation's error carried through W_down.
      const double tol_y = dot_error_bound(a_ref, W_down, p + 1) + row_l1(W_down) * tol_a;
      for (int r = 0; r < p; ++r) CHECK(atp::max_abs_error(f.output[r], y_ref) <= tol_y);
    }
  }
}

TEST_CASE("ch04: ParallelGatedMLP (SwiGLU) is within tolerance of the float64 dense MLP for p in {1, 2, 3, 4, 8}") {
  const Masters m = masters(43);
  const MatrixD x = atp::to_double(m.x), W_down = atp::to_double(m.W_down);
  const MatrixD g = atp::linear_ref(x, atp::to_double(m.W_gate), nullptr);
  const MatrixD u = atp::linear_ref(x, atp::to_double(m.W_up), nullptr);
  const MatrixD s = atp::silu_ref(g);
  const MatrixD a_ref = s.cwiseProduct(u);
  const MatrixD y_ref = atp::linear_ref(a_ref, W_down, nullptr);
  for (int p : {1, 2, 3, 4, 8}) {
    CAPTURE(p);
    World world(p);
    const auto mlp = ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, p);
    const auto f = mlp.forward_steps(world, replicate(m.x, p), "mlp");
    MatrixD gu_ref(kT, 2 * kI);
    gu_ref << g, u;
    // g and u: one fp32 dot of H terms each.
    const double tol_gu = std::max(dot_error_bound(x, atp::to_double(m.W_gate), 0),
                                   dot_error_bound(x, atp::to_double(m.W_up), 0));
    CHECK(atp::max_abs_error(join_gate_up(f.intermediate), gu_ref) <= tol_gu);
    // a = silu(g) u: silu's slope is below 1.1, so d a <= 1.1 |u| dg + |silu(g)| du,
    // plus a few ulp of silu and the product.
    const double tol_a = (1.1 * u.cwiseAbs().maxCoeff() + s.cwiseAbs().maxCoeff()) * tol_gu +
                         4.0 * 2 * kU * a_ref.cwiseAbs().maxCoeff();
    CHECK(atp::max_abs_error(concat_cols(f.activated), a_ref) <= tol_a);
    const double tol_y = dot_error_bound(a_ref, W_down, p) + row_l1(W_down) * tol_a;
    for (int r = 0; r < p; ++r) CHECK(atp::max_abs_error(f.output[r], y_ref) <= tol_y);
  }
}

TEST_CASE("ch04: bitwise: intermediate = dense columns, output = rank-order sum of the partials, all ranks equal") {
  const Masters m = masters(47);
  const Matrix h_dense = atp::linear(m.x, m.W_up, &m.b_up);
  const Matrix gu_dense = [&] {
    Matrix gu(kT, 2 * kI);
    gu << atp::linear(m.x, m.W_gate, nullptr), atp::linear(m.x, m.W_up, nullptr);
    return gu;
  }();
  for (int p : {1, 2, 3, 4, 8}) {
    CAPTURE(p);
    {
      World world(p);
      const auto mlp = ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, p, {atp::GeluForm::Erf, {}});
      const auto f = mlp.forward_steps(world, replicate(m.x, p), "mlp");
      // Column-parallel: every element is one whole dot on one rank, so the slices ARE the dense columns.
      atp::test::require_bitwise(concat_cols(f.intermediate), h_dense, "gelu intermediate vs dense");
      for (int r = 0; r < p; ++r) {
        Matrix want(f.intermediate[r].rows(), f.intermediate[r].cols());
        for (Eigen::Index i = 0; i < want.size(); ++i) want.data()[i] = atp::gelu_erf(f.intermediate[r].data()[i]);
        atp::test::require_bitwise(f.activated[r], want, "activated rank " + std::to_string(r));
      }
      const Matrix y = rank_order_down(f.activated, m.W_down, &m.b_down);
      for (int r = 0; r < p; ++r) atp::test::require_bitwise(f.output[r], y, "gelu output rank " + std::to_string(r));
      if (p == 1) {  // one rank: the dense fp32 MLP exactly
        const Matrix dense = atp::linear(f.activated[0], m.W_down, &m.b_down);
        atp::test::require_bitwise(f.output[0], dense, "p = 1 vs dense");
      }
      // forward() gives the same bits as forward_steps().
      World w2(p);
      const auto y2 = mlp.forward(w2, replicate(m.x, p), "mlp");
      for (int r = 0; r < p; ++r) atp::test::require_bitwise(y2[r], f.output[r], "forward vs forward_steps");
    }
    {
      World world(p);
      const auto mlp = ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, p);
      const auto f = mlp.forward_steps(world, replicate(m.x, p), "mlp");
      atp::test::require_bitwise(join_gate_up(f.intermediate), gu_dense, "[gate | up] vs dense");
      const Eigen::Index c = kI / p;
      for (int r = 0; r < p; ++r) {
        Matrix want(kT, c);
        for (Eigen::Index t = 0; t < kT; ++t)
          for (Eigen::Index j = 0; j < c; ++j)
            want(t, j) = atp::silu(f.intermediate[r](t, j)) * f.intermediate[r](t, c + j);
        atp::test::require_bitwise(f.activated[r], want, "swiglu rank " + std::to_string(r));
      }
      const Matrix y = rank_order_down(f.activated, m.W_down, nullptr);
      for (int r = 0; r < p; ++r) atp::test::require_bitwise(f.output[r], y, "swiglu output rank " + std::to_string(r));
    }
  }
}

TEST_CASE("ch04: the trace: exactly one all-reduce per MLP forward, none between the two layers") {
  const Masters m = masters(53);
  for (int p : {1, 2, 4, 8}) {
    CAPTURE(p);
    for (bool gated : {false, true}) {
      CAPTURE(gated);
      World world(p);
      const auto x = replicate(m.x, p);
      if (gated) {
        const auto mlp = ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, p);
        mlp.forward_steps(world, x, "block0.mlp");  // forward_steps must not add to the trace either
        mlp.forward(world, x, "block1.mlp");
      } else {
        const auto mlp = ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, p);
        mlp.forward_steps(world, x, "block0.mlp");
        mlp.forward(world, x, "block1.mlp");
      }
      const Trace& tr = world.trace();
      CHECK(tr.count(ops::kAllReduceRankOrder) == 2);  // two MLP forwards, one each
      CHECK(tr.count(ops::kAllGather) == 0);
      CHECK(tr.count(ops::kAllReduceRing) == 0);
      for (int r = 0; r < p; ++r) CHECK(tr.count(kMatmulOp, r) == 4);
      // On every rank, per forward: matmul (up), matmul (down), then the all-reduce; nothing in between.
      for (int r = 0; r < p; ++r) {
        std::vector<std::string> seq;
        for (const auto& e : tr.events())
          if (e.rank == r) seq.push_back(e.op + " " + e.label);
        const std::string up = gated ? ".gate_up" : ".up";
        const std::vector<std::string> want = {
            "matmul block0.mlp" + up, "matmul block0.mlp.down", "all_reduce_rank_order block0.mlp.down.all_reduce",
            "matmul block1.mlp" + up, "matmul block1.mlp.down", "all_reduce_rank_order block1.mlp.down.all_reduce"};
        CHECK(seq == want);
      }
      // The rank-order all-reduce gathers the (T, H) partials: (p - 1) T H 4 bytes per rank per forward.
      for (int r = 0; r < p; ++r)
        CHECK(tr.bytes_sent(r) == 2 * static_cast<std::int64_t>(p - 1) * kT * kH * 4);
    }
  }
  // The ring order is a choice of the down projection's all-reduce, still one call.
  World world(4);
  const ParallelMLPOptions ring{atp::GeluForm::Tanh, ReduceOrder::Ring};
  const auto mlp = ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, 4, ring);
  mlp.forward(world, replicate(m.x, 4), "mlp");
  CHECK(world.trace().count(ops::kAllReduceRing) == 1);
  CHECK(world.trace().count(ops::kAllReduceRankOrder) == 0);
}

TEST_CASE("ch04: weight memory per rank is the dense MLP / p (b_down replicated), from the ledger") {
  const Masters m = masters(59);
  const std::int64_t w = 4LL * kI * kH;  // one (I, H) or (H, I) matrix, fp32
  for (int p : {1, 2, 3, 4, 8}) {
    CAPTURE(p);
    World world(p);
    ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, p).account_memory(world, "mlp");
    const std::int64_t sharded = 2 * w + 4LL * kI;  // W_up, W_down, b_up
    for (int r = 0; r < p; ++r) CHECK(world.memory().bytes(r, MemoryKind::Weight) == sharded / p + 4LL * kH);
    World gated(p);
    ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, p).account_memory(gated, "mlp");
    for (int r = 0; r < p; ++r) CHECK(gated.memory().bytes(r, MemoryKind::Weight) == 3 * w / p);
  }
}

TEST_CASE("ch04: shards are slices: up rows r, down cols r, merged gate_up = [gate rows r; up rows r]") {
  const Masters m = masters(61);
  for (int p : {1, 2, 3, 4, 8}) {
    CAPTURE(p);
    const Eigen::Index c = kI / p;
    const auto mlp = ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, p);
    const auto gated = ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, p);
    CHECK(mlp.hidden() == kH);
    CHECK(mlp.intermediate() == kI);
    CHECK(gated.intermediate() == kI);
    for (int r = 0; r < p; ++r) {
      const std::string tag = " rank " + std::to_string(r);
      atp::test::require_bitwise(mlp.up().weight()[r], Matrix(m.W_up.middleRows(r * c, c)), "W_up" + tag);
      atp::test::require_bitwise(mlp.up().bias()[r], Matrix(m.b_up.middleCols(r * c, c)), "b_up" + tag);
      atp::test::require_bitwise(mlp.down().weight()[r], Matrix(m.W_down.middleCols(r * c, c)), "W_down" + tag);
      Matrix stacked(2 * c, kH);
      stacked << m.W_gate.middleRows(r * c, c), m.W_up.middleRows(r * c, c);
      atp::test::require_bitwise(gated.gate_up().weight()[r], stacked, "gate_up" + tag);
      atp::test::require_bitwise(gated.down().weight()[r], Matrix(m.W_down.middleCols(r * c, c)), "gated W_down" + tag);
    }
  }
}

TEST_CASE("ch04: sizes p does not divide and mismatched shapes are refused with the values and valid tp") {
  const Matrix W_up = atp::random_matrix(10, 6, 1, 1, 0.3f), b_up = atp::random_matrix(1, 10, 1, 2, 0.3f);
  const Matrix W_down = atp::random_matrix(6, 10, 1, 3, 0.3f), b_down = atp::random_matrix(1, 6, 1, 4, 0.3f);
  std::string e = error_of([&] { ParallelMLP::from_master(W_up, b_up, W_down, b_down, 4); });
  CHECK(contains(e, "intermediate size 10 is not divisible by tp 4"));
  CHECK(contains(e, "valid tp: 1, 2, 5, 10"));
  e = error_of([&] { ParallelGatedMLP::from_master(W_up, W_up, W_down, 3); });
  CHECK(contains(e, "intermediate size 10 is not divisible by tp 3"));
  CHECK(contains(e, "valid tp: 1, 2, 5, 10"));
  e = error_of([&] { ParallelMLP::from_master(W_up, b_up, Matrix(W_down.transpose()), b_down, 2); });
  CHECK(contains(e, "W_down is (10, 6) but must be (6, 10)"));
  e = error_of([&] { ParallelMLP::from_master(W_up, b_down, W_down, b_down, 2); });
  CHECK(contains(e, "b_up is (1, 6) but must be (1, 10)"));
  e = error_of([&] { ParallelGatedMLP::from_master(W_up, Matrix(W_up.topRows(8)), W_down, 2); });
  CHECK(contains(e, "W_up is (8, 6) but must be (10, 6)"));
  // A world of the wrong size is refused by the layers, not silently truncated.
  const auto mlp = ParallelMLP::from_master(W_up, b_up, W_down, b_down, 2);
  World world(2);
  CHECK_THROWS_AS(mlp.forward(world, replicate(Matrix::Zero(3, 5), 2), "mlp"), std::invalid_argument);
}
