/// \file test_ch12_sequence_parallel.cpp
/// \brief Chapter 12: sequence parallelism. The MLP and attention with their
///        regions split along the tokens give rank r exactly rows r of the
///        tensor-parallel output (bitwise, rank order and tree order), the
///        reduce-scatter / all-gather pair moves the bytes of a ring
///        all-reduce with one more launch (from the trace), and the errors.
///
/// Expected outputs come from the same layers without sequence parallelism
/// (chapters 4-5, tested against float64 there), sliced by rows here; byte
/// counts are written out from the formulas in collectives.hpp.
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/attention_weights.hpp"
#include "atp/rng.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/layers/parallel_attention.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/layers/sequence_parallel.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"

#include <string>

using atp::Matrix;
using namespace atp::sim;
using atp::test::contains;
using atp::test::error_of;
using atp::test::require_bitwise;

namespace {

constexpr int kT = 8, kH = 32, kI = 64;  // T divisible by p in {1, 2, 4, 8}

Matrix rnd(Eigen::Index r, Eigen::Index c, std::uint64_t stream, float scale) {
  return atp::random_matrix(r, c, 7, stream, scale);
}

struct Mlp {
  Matrix x = rnd(kT, kH, 0, 1.7f), W_up = rnd(kI, kH, 1, 0.3f), b_up = rnd(1, kI, 2, 0.33f),
         W_gate = rnd(kI, kH, 3, 0.3f), W_down = rnd(kH, kI, 4, 0.2f), b_down = rnd(1, kH, 5, 0.33f);
};

}  // namespace

TEST_CASE("the SP MLP (GELU and SwiGLU) gives rank r rows r of the TP output, rank order and tree order") {
  const Mlp m;
  Matrix tree_tp1;  // SP in the tree order is also the same bits at every tp
  for (ReduceOrder order : {ReduceOrder::RankOrder, ReduceOrder::Tree})
    for (int p : {1, 2, 4, 8}) {
      CAPTURE(p);
      CAPTURE(to_string(order));
      ParallelMLPOptions tp, sp;
      tp.order = sp.order = order;
      sp.sequence_parallel = true;
      World wt(p), ws(p);
      const auto want = ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, p, tp).forward(wt, replicate(m.x, p), "m");
      const auto got = ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, p, sp)
                           .forward(ws, scatter_to_sequence_parallel_region(m.x, p), "m");
      const auto gwant = ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, p, tp).forward(wt, replicate(m.x, p), "g");
      const auto ggot = ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, p, sp)
                            .forward(ws, scatter_to_sequence_parallel_region(m.x, p), "g");
      const int rows = kT / p;
      for (int r = 0; r < p; ++r) {
        require_bitwise(got[r], Matrix(want[0].middleRows(r * rows, rows)), "GELU, rank " + std::to_string(r));
        require_bitwise(ggot[r], Matrix(gwant[0].middleRows(r * rows, rows)), "SwiGLU, rank " + std::to_string(r));
      }
      if (order == ReduceOrder::Tree) {
        if (p == 1) tree_tp1 = concat_rows(ggot);
        require_bitwise(concat_rows(ggot), tree_tp1, "SwiGLU, SP + tree at tp " + std::to_string(p) + " vs tp 1");
      }
    }
}

TEST_CASE("the SP attention (GQA, causal) gives rank r rows r of the TP output") {
  const int nH = 8, nKV = 2, d = kH / nH;
  const Matrix x = rnd(kT, kH, 10, 1.0f);
  const atp::AttentionWeights w = atp::random_attention_weights(kH, nH, nKV, d, 7, true);
  for (int p : {1, 2, 4, 8}) {
    CAPTURE(p);
    ParallelAttentionOptions tp, sp;
    tp.causal = sp.causal = true;
    sp.sequence_parallel = true;
    World wt(p), ws(p);
    const auto want = ParallelAttention::from_masters(w, nH, nKV, p, tp).forward(wt, replicate(x, p), "a");
    const auto got = ParallelAttention::from_masters(w, nH, nKV, p, sp).forward(ws, scatter_to_sequence_parallel_region(x, p), "a");
    for (int r = 0; r < p; ++r)
      require_bitwise(got[r], Matrix(want[0].middleRows(r * (kT / p), kT / p)), "rank " + std::to_string(r));
  }
}

TEST_CASE("from the trace: SP swaps one all-reduce for an all-gather and a reduce-scatter, with the ring's bytes") {
  const Mlp m;
  for (int p : {2, 4, 8}) {
    CAPTURE(p);
    ParallelMLPOptions sp;
    sp.sequence_parallel = true;
    World ws(p), ring(p);
    ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, p, sp).forward(ws, scatter_to_sequence_parallel_region(m.x, p), "m");
    all_reduce_ring(ring, replicate(Matrix::Zero(kT, kH), p), "y");
    CHECK(ws.trace().count(ops::kAllGather) == 1);
    CHECK(ws.trace().count(ops::kReduceScatter) == 1);
    CHECK(ws.trace().count(ops::kAllReduceRankOrder) == 0);
    // (T/p, H) gathered and (T, H) reduce-scattered: 2 (p-1)/p T H 4 bytes, what the ring all-reduce moves.
    const std::int64_t want = 2 * static_cast<std::int64_t>(p - 1) * (kT * kH / p) * 4;
    for (int r = 0; r < p; ++r) {
      CHECK(ws.trace().bytes_sent(r) == want);
      CHECK(ring.trace().bytes_sent(r) == want);
    }
  }
}

TEST_CASE("sequence parallelism refuses a sequence p does not divide, the ring order, and a non-parallel input") {
  const Mlp m;
  const auto t = error_of([&] { scatter_to_sequence_parallel_region(rnd(6, kH, 20, 1.0f), 4); });
  CHECK(contains(t, "6 tokens across tp 4"));
  CHECK(contains(t, "1, 2, 3, 6"));
  RowParallelOptions o;
  o.sequence_parallel = true;
  o.order = ReduceOrder::Ring;
  CHECK(contains(error_of([&] { RowParallelLinear::from_master(m.W_down, &m.b_down, 2, o); }), "ring"));
  o.order = ReduceOrder::RankOrder;
  o.input_is_parallel = false;
  CHECK(contains(error_of([&] { RowParallelLinear::from_master(m.W_down, &m.b_down, 2, o); }), "input_is_parallel"));
  // The layer checks the tokens it is given, too.
  ParallelMLPOptions sp;
  sp.sequence_parallel = true;
  World w(4);
  const auto mlp = ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, 4, sp);
  const auto shards = make_per_rank(4, [&](int r) -> Matrix { return rnd(1, kH, 30 + r, 1.0f); });  // T = 4 after the gather
  CHECK(mlp.forward(w, shards, "m")[3].rows() == 1);
  const auto odd = make_per_rank(4, [&](int r) -> Matrix { return rnd(r == 0 ? 2 : 1, kH, 40 + r, 1.0f); });
  CHECK(contains(error_of([&] { mlp.forward(w, odd, "m"); }), "rank 1"));
}
