/// \file test_ch11_invariant.cpp
/// \brief Chapter 11: the blocked tree order gives the same bits at tp = 1, 2,
///        4, 8 (row-parallel linear, both MLPs, attention, the vocab-parallel
///        log-softmax), the tree collectives, atp::log, and every refusal.
///
/// The expected values are independent of the layers under test: the tree
/// sum is written out here by hand from atp::dot over segment slices, and the
/// invariance claims compare layers at different tp with each other and with
/// the dense atp::linear_tree. Every case first checks that the ordinary
/// (rank-order) path DOES change with tp on the same data, so a test cannot
/// pass because the data happen to sum exactly. Sizes are small (T = 5).
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/activations.hpp"
#include "atp/attention_weights.hpp"
#include "atp/log.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/matmul_tree.hpp"
#include "atp/numerics.hpp"
#include "atp/rng.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/layers/parallel_attention.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/layers/vocab_parallel_log_softmax.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using atp::Matrix;
using namespace atp::sim;
using atp::test::contains;
using atp::test::error_of;
using atp::test::require_bitwise;

namespace {

constexpr int kT = 5, kH = 32, kI = 64;
const int kTps[] = {1, 2, 4, 8};

Matrix rnd(Eigen::Index r, Eigen::Index c, std::uint64_t stream, float scale) {
  return atp::random_matrix(r, c, 2026, stream, scale);
}

/// The tree order written out by hand: per element, S segment dots by atp::dot, then pairwise levels.
Matrix tree_by_hand(const Matrix& x, const Matrix& W, const Matrix& b, int S) {
  const Eigen::Index L = x.cols() / S;
  Matrix y(x.rows(), W.rows());
  for (Eigen::Index t = 0; t < x.rows(); ++t)
    for (Eigen::Index o = 0; o < W.rows(); ++o) {
      std::vector<float> v(static_cast<std::size_t>(S));
      for (int s = 0; s < S; ++s) v[static_cast<std::size_t>(s)] = atp::dot(&x(t, s * L), &W(o, s * L), static_cast<int>(L));
      for (int width = 1; width < S; width *= 2)
        for (int i = 0; i + width < S; i += 2 * width) v[i] = v[i] + v[i + width];
      y(t, o) = v[0] + b(0, o);
    }
  return y;
}

bool same_bits(const Matrix& a, const Matrix& b) { return atp::compare_bitwise(a, b).equal(); }

PerRank<Matrix> row_forward(const Matrix& x, const Matrix& W, const Matrix& b, int p, ReduceOrder order) {
  World world(p);
  RowParallelOptions o;
  o.order = order;
  return RowParallelLinear::from_master(W, &b, p, o).forward(world, split_cols(x, p), "proj");
}

}  // namespace

TEST_CASE("linear_tree equals the tree written out by hand from atp::dot, for S = 1, 2, 4, 8") {
  const Matrix x = rnd(kT, kI, 0, 1.7f), W = rnd(kH, kI, 1, 0.2f), b = rnd(1, kH, 2, 0.33f);
  for (int S : {1, 2, 4, 8}) {
    CAPTURE(S);
    require_bitwise(atp::linear_tree(x, W, &b, S), tree_by_hand(x, W, b, S), "linear_tree");
  }
  // S = 1 is the canonical order itself; S = 8 is a different order on this data.
  require_bitwise(atp::linear_tree(x, W, &b, 1), atp::linear(x, W, &b), "S = 1 vs atp::linear");
  CHECK_FALSE(same_bits(atp::linear_tree(x, W, &b, 8), atp::linear(x, W, &b)));
}

TEST_CASE("row-parallel, tree order: tp = 1, 2, 4, 8 give the dense linear_tree's bits on every rank") {
  const Matrix x = rnd(kT, kI, 0, 1.7f), W = rnd(kH, kI, 1, 0.2f), b = rnd(1, kH, 2, 0.33f);
  // The ordinary path changes with tp on this data (so the check below can fail).
  CHECK_FALSE(same_bits(row_forward(x, W, b, 1, ReduceOrder::RankOrder)[0],
                        row_forward(x, W, b, 4, ReduceOrder::RankOrder)[0]));
  const Matrix dense = tree_by_hand(x, W, b, 8);
  for (int p : kTps) {
    CAPTURE(p);
    const auto y = row_forward(x, W, b, p, ReduceOrder::Tree);
    for (int r = 0; r < p; ++r) require_bitwise(y[r], dense, "tree output, rank " + std::to_string(r));
  }
}

TEST_CASE("row-parallel, tree order: rank r's partial sum is the root of its S/p segments' subtree") {
  const Matrix x = rnd(kT, kI, 3, 1.7f), W = rnd(kH, kI, 4, 0.2f), zero = Matrix::Zero(1, kH);
  const int p = 4;
  World world(p);
  RowParallelOptions o;
  o.order = ReduceOrder::Tree;
  const auto partial = RowParallelLinear::from_master(W, nullptr, p, o).partial_sums(world, split_cols(x, p), "proj");
  const auto xs = split_cols(x, p), Ws = split_cols(W, p);
  for (int r = 0; r < p; ++r) require_bitwise(partial[r], tree_by_hand(xs[r], Ws[r], zero, 2), "subtree root");
  // And the tree all-reduce of those roots is the upper levels: (y0 + y1) + (y2 + y3).
  const Matrix upper = (partial[0] + partial[1]) + (partial[2] + partial[3]);
  require_bitwise(all_reduce_tree(world, partial, "ar")[3], upper, "upper levels");
}

TEST_CASE("the tree all-reduce: recursive doubling, 4N log2 p bytes per rank, every rank the same bits") {
  for (int p : kTps) {
    CAPTURE(p);
    World world(p);
    const auto in = make_per_rank(p, [](int r) -> Matrix { return rnd(3, 7, 10 + r, 3.7f); });
    const auto out = all_reduce_tree(world, in, "t");
    Matrix want = in[0];
    if (p > 1) {  // written out: pairs, then pairs of pairs
      std::vector<Matrix> v(in.values());
      for (int w = 1; w < p; w *= 2)
        for (int i = 0; i + w < p; i += 2 * w) v[i] = v[i] + v[i + w];
      want = v[0];
    }
    for (int r = 0; r < p; ++r) require_bitwise(out[r], want, "rank " + std::to_string(r));
    const int levels = p == 1 ? 0 : p == 2 ? 1 : p == 4 ? 2 : 3;
    CHECK(world.trace().count(ops::kAllReduceTree) == 1);
    for (int r = 0; r < p; ++r) {
      CHECK(world.trace().bytes_sent(r) == 4 * 21 * levels);
      CHECK(world.trace().flops(r) == 21 * levels);
    }
  }
  World three(3);
  const auto msg = error_of([&] { all_reduce_tree(three, replicate(Matrix::Ones(1, 2), 3), "t"); });
  CHECK(contains(msg, "p = 3"));
  CHECK(contains(msg, "power of two"));
}

TEST_CASE("the tree reduce-scatter is the rows of the tree all-reduce; the max all-reduce is exact") {
  const int p = 4;
  World world(p);
  const auto in = make_per_rank(p, [](int r) -> Matrix { return rnd(8, 3, 20 + r, 3.7f); });
  const Matrix full = all_reduce_tree(world, in, "ar")[0];
  const auto rs = reduce_scatter_tree(world, in, Axis::Rows, "rs");
  for (int r = 0; r < p; ++r) require_bitwise(rs[r], Matrix(full.middleRows(2 * r, 2)), "block " + std::to_string(r));
  CHECK(world.trace().bytes_sent(0, ops::kReduceScatterTree) == 4 * 24 * 3 / 4);
  const auto mx = all_reduce_max(world, in, "max");
  for (Eigen::Index i = 0; i < 24; ++i) {
    float want = in[0].data()[i];
    for (int r = 1; r < p; ++r) want = std::max(want, in[r].data()[i]);
    CHECK(mx[2].data()[i] == want);
  }
}

TEST_CASE("both MLPs, tree order: every tp pair bitwise equal, and equal to the dense composition") {
  const Matrix x = rnd(kT, kH, 30, 1.7f), W_up = rnd(kI, kH, 31, 0.3f), b_up = rnd(1, kI, 32, 0.33f),
               W_gate = rnd(kI, kH, 33, 0.3f), W_down = rnd(kH, kI, 34, 0.2f), b_down = rnd(1, kH, 35, 0.33f);
  ParallelMLPOptions tree;
  tree.order = ReduceOrder::Tree;
  // Dense compositions: the up projections are column-parallel (exact), the down projection is linear_tree.
  const Matrix gelu_dense = atp::linear_tree(gelu(atp::GeluForm::Tanh, atp::linear(x, W_up, &b_up)), W_down, &b_down, 8);
  Matrix gu(kT, 2 * kI);
  gu << atp::linear(x, W_gate, nullptr), atp::linear(x, W_up, nullptr);
  const Matrix swiglu_dense = atp::linear_tree(swiglu(gu), W_down, nullptr, 8);
  World w1(1), w4(4);
  CHECK_FALSE(same_bits(ParallelMLP::from_master(W_up, b_up, W_down, b_down, 1).forward(w1, replicate(x, 1), "m")[0],
                        ParallelMLP::from_master(W_up, b_up, W_down, b_down, 4).forward(w4, replicate(x, 4), "m")[0]));
  for (int p : kTps) {
    CAPTURE(p);
    World world(p);
    const auto y = ParallelMLP::from_master(W_up, b_up, W_down, b_down, p, tree).forward(world, replicate(x, p), "m");
    const auto g = ParallelGatedMLP::from_master(W_gate, W_up, W_down, p, tree).forward(world, replicate(x, p), "g");
    for (int r = 0; r < p; ++r) {
      require_bitwise(y[r], gelu_dense, "GELU MLP, rank " + std::to_string(r));
      require_bitwise(g[r], swiglu_dense, "SwiGLU MLP, rank " + std::to_string(r));
    }
    CHECK(world.trace().count(ops::kAllReduceTree) == 2);
  }
}

TEST_CASE("attention (GQA, causal), tree order: tp = 1, 2, 4, 8 give the same bits") {
  const int nH = 8, nKV = 4, d = kH / nH;
  const Matrix x = rnd(kT, kH, 40, 1.0f);
  const atp::AttentionWeights w = atp::random_attention_weights(kH, nH, nKV, d, 2026, true);
  ParallelAttentionOptions ordinary, tree;
  ordinary.causal = tree.causal = true;
  tree.order = ReduceOrder::Tree;
  World w1(1), w2(2);
  CHECK_FALSE(same_bits(ParallelAttention::from_masters(w, nH, nKV, 1, ordinary).forward(w1, replicate(x, 1), "a")[0],
                        ParallelAttention::from_masters(w, nH, nKV, 2, ordinary).forward(w2, replicate(x, 2), "a")[0]));
  World world(1);
  const Matrix ref = ParallelAttention::from_masters(w, nH, nKV, 1, tree).forward(world, replicate(x, 1), "a")[0];
  for (int p : {2, 4, 8}) {
    CAPTURE(p);
    World wp(p);
    const auto y = ParallelAttention::from_masters(w, nH, nKV, p, tree).forward(wp, replicate(x, p), "a");
    for (int r = 0; r < p; ++r) require_bitwise(y[r], ref, "attention, rank " + std::to_string(r));
  }
}

TEST_CASE("the tree order refuses what would make it depend on tp, and says what is valid") {
  const Matrix W = rnd(4, 24, 50, 0.2f), b = rnd(1, 4, 51, 0.3f);
  RowParallelOptions o;
  o.order = ReduceOrder::Tree;
  const auto p3 = error_of([&] { RowParallelLinear::from_master(W, &b, 3, o); });
  CHECK(contains(p3, "tp 3 does not divide the 8 tree segments"));
  CHECK(contains(p3, "1, 2, 4, 8"));
  const Matrix W20 = rnd(4, 20, 52, 0.2f);
  const auto k = error_of([&] { RowParallelLinear::from_master(W20, &b, 2, o); });
  CHECK(contains(k, "20 does not split into 8"));
  CHECK(contains(k, "1, 2, 4"));
  o.tree_segments = 6;
  CHECK(contains(error_of([&] { RowParallelLinear::from_master(W, &b, 2, o); }), "power of two"));
  o.tree_segments = 8;
  o.bias_placement = BiasPlacement::Rank0BeforeReduce;
  CHECK(contains(error_of([&] { RowParallelLinear::from_master(W, &b, 2, o); }), "use after-reduce"));
  CHECK(parse_reduce_order("tree") == ReduceOrder::Tree);
  CHECK(std::string(to_string(ReduceOrder::Tree)) == "tree");
  CHECK(contains(error_of([] { parse_reduce_order("trees"); }), "rank-order, ring, tree"));
}

TEST_CASE("atp::log: below 1 ulp against float64 over a sweep, and its special values") {
  double worst = 0.0;
  for (std::uint32_t u = 0x00000001u; u < 0x7f800000u; u += 9973u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    const double want = std::log(static_cast<double>(x));
    int e = 0;
    std::frexp(want, &e);
    worst = std::max(worst, std::fabs(static_cast<double>(atp::log(x)) - want) / std::ldexp(1.0, e - 24));
  }
  CHECK(worst < 1.0);
  CHECK(atp::log(1.0f) == 0.0f);
  CHECK(std::isinf(atp::log(0.0f)));
  CHECK(atp::log(0.0f) < 0.0f);
  CHECK(atp::float_bits(atp::log(-1.0f)) == atp::float_bits(atp::quiet_nan()));
  CHECK(atp::float_bits(atp::log(std::numeric_limits<float>::quiet_NaN())) == atp::float_bits(atp::quiet_nan()));
  CHECK(std::isinf(atp::log(std::numeric_limits<float>::infinity())));
}

TEST_CASE("vocab-parallel log-softmax, tree order: the same bits at tp = 1, 2, 4, 8, padding -inf") {
  const std::int64_t V = 200, V_pad = 256;  // 56 padding ids: rank 7 of 8 holds only 8 real ones
  const Matrix logits = rnd(kT, V, 60, 6.0f);
  const Matrix dense = log_softmax_tree(logits, V_pad, 8);
  auto run = [&](int p, ReduceOrder order) {
    World world(p);
    const std::int64_t n = V_pad / p;
    Matrix padded = Matrix::Zero(kT, V_pad);
    padded.leftCols(V) = logits;
    const auto local = make_per_rank(p, [&](int r) -> Matrix { return padded.middleCols(r * n, n); });
    return concat_cols(vocab_parallel_log_softmax(world, local, V, {order, 8}, "ls"));
  };
  for (int p : kTps) {
    CAPTURE(p);
    const Matrix got = run(p, ReduceOrder::Tree);
    require_bitwise(Matrix(got.leftCols(V)), dense, "log-probabilities");
    for (Eigen::Index j = V; j < V_pad; ++j) CHECK(std::isinf(got(0, j)));
  }
  // Against float64: each row's probabilities sum to 1 within a few ulp.
  for (Eigen::Index t = 0; t < kT; ++t) {
    double s = 0.0;
    for (Eigen::Index j = 0; j < V; ++j) s += std::exp(static_cast<double>(dense(t, j)));
    CHECK(std::fabs(s - 1.0) < 1e-5);
  }
  // The ordinary order changes with tp on this data.
  bool differs = false;
  for (int p : {2, 4, 8}) differs = differs || !same_bits(run(p, ReduceOrder::RankOrder), run(1, ReduceOrder::RankOrder));
  CHECK(differs);
}
