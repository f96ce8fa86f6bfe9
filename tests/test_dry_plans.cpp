/// \file test_dry_plans.cpp
/// \brief Chapter 10's dry runs record what the real layers record: for each
///        layer (and collective) of chapters 1-6 the real forward runs on small
///        random data, its dry twin runs on the shapes alone, and the two
///        traces must agree event by event (op, label, rank, shapes, bytes,
///        flops, and which events share a call), for p = 1, 2, 3, 4.
///
/// A layer whose forward changes without its twin fails here; that is the
/// point. The model-level plans (decoder, encoder strategies) are checked the
/// same way against the real models once those are in the tree.
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/attention_weights.hpp"
#include "atp/rng.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/layers/column_parallel_linear.hpp"
#include "atp/sim/layers/parallel_attention.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"
#include "atp/sim/plan/dry_collectives.hpp"
#include "atp/sim/plan/dry_layers.hpp"
#include "atp/sim/plan/dry_models.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"

#include <functional>
#include <map>
#include <string>
#include <vector>

using atp::Matrix;
using namespace atp::sim;
using atp::test::contains;
using atp::test::error_of;

namespace {

/// Requires the two traces to hold the same events in the same order, with the same call grouping.
void require_same_trace(const Trace& real, const Trace& dry) {
  const auto& a = real.events();
  const auto& b = dry.events();
  REQUIRE(a.size() == b.size());
  REQUIRE(!a.empty());
  std::map<std::int64_t, std::int64_t> call_of_real, call_of_dry;
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CAPTURE(a[i].op);
    CAPTURE(a[i].label);
    CHECK(a[i].op == b[i].op);
    CHECK(a[i].label == b[i].label);
    CHECK(a[i].rank == b[i].rank);
    CHECK(a[i].shape_in == b[i].shape_in);
    CHECK(a[i].shape_out == b[i].shape_out);
    CHECK(a[i].bytes_sent == b[i].bytes_sent);
    CHECK(a[i].bytes_received == b[i].bytes_received);
    CHECK(a[i].flops == b[i].flops);
    // Same grouping into calls: real call x <-> dry call y, one to one.
    const auto [ra, fresh_a] = call_of_real.emplace(a[i].call, b[i].call);
    const auto [rb, fresh_b] = call_of_dry.emplace(b[i].call, a[i].call);
    CHECK(ra->second == b[i].call);
    CHECK(rb->second == a[i].call);
  }
}

/// Runs real(world) and dry(world) in fresh worlds of p ranks and compares their traces.
void compare(int p, const std::function<void(World&)>& real, const std::function<void(World&)>& dry) {
  CAPTURE(p);
  World w_real(p), w_dry(p);
  real(w_real);
  dry(w_dry);
  require_same_trace(w_real.trace(), w_dry.trace());
}

Matrix rnd(Eigen::Index r, Eigen::Index c, std::uint64_t stream) { return atp::random_matrix(r, c, 7, stream, 0.5f); }

PerRank<Matrix> per_rank(int p, Eigen::Index r, Eigen::Index c) {
  return make_per_rank(p, [&](int k) { return rnd(r, c, 50 + static_cast<std::uint64_t>(k)); });
}

}  // namespace

TEST_CASE("dry collectives record what the real collectives record") {
  for (int p : {1, 2, 3, 4}) {
    // 5 x 7 = 35 elements: an uneven ring chunking for p = 2, 3, 4.
    compare(p, [&](World& w) { all_reduce_rank_order(w, per_rank(p, 5, 7), "ar"); },
            [&](World& w) { dry::all_reduce(w, ReduceOrder::RankOrder, {5, 7}, "ar"); });
    compare(p, [&](World& w) { all_reduce_ring(w, per_rank(p, 5, 7), "ring"); },
            [&](World& w) { dry::all_reduce(w, ReduceOrder::Ring, {5, 7}, "ring"); });
    compare(p, [&](World& w) { all_gather(w, per_rank(p, 3, 2), Axis::Rows, "ag"); },
            [&](World& w) { dry::all_gather(w, {3, 2}, Axis::Rows, "ag"); });
    compare(p, [&](World& w) { all_gather(w, per_rank(p, 3, 2), Axis::Cols, "agc"); },
            [&](World& w) { dry::all_gather(w, {3, 2}, Axis::Cols, "agc"); });
    compare(p, [&](World& w) { reduce_scatter(w, per_rank(p, 12, 2), Axis::Rows, "rs"); },
            [&](World& w) { dry::reduce_scatter(w, {12, 2}, Axis::Rows, "rs"); });
    compare(p, [&](World& w) { gather(w, per_rank(p, 2, 3), 0, Axis::Cols, "g"); },
            [&](World& w) { dry::gather(w, {2, 3}, 0, Axis::Cols, "g"); });
    const int root = p - 1;
    compare(p,
            [&](World& w) {
              PerRank<Matrix> in(p, Matrix(0, 0));
              in[root] = rnd(4, 3, 9);
              broadcast(w, in, root, "bc");
            },
            [&](World& w) { dry::broadcast(w, {4, 3}, root, true, "bc"); });
    compare(p, [&](World& w) { broadcast(w, per_rank(p, 4, 3), 0, "bc_full"); },
            [&](World& w) { dry::broadcast(w, {4, 3}, 0, false, "bc_full"); });
  }
}

TEST_CASE("dry column- and row-parallel linears match chapters 2 and 3") {
  const Eigen::Index T = 3, in = 12, out = 24;
  const Matrix W = rnd(out, in, 1), b = rnd(1, out, 2), W_row = rnd(8, in, 3), b_row = rnd(1, 8, 4);
  for (int p : {1, 2, 3, 4}) {
    for (bool gather_out : {false, true}) {
      ColumnParallelOptions o;
      o.gather_output = gather_out;
      compare(p,
              [&](World& w) {
                ColumnParallelLinear::from_master(W, &b, p, o).forward(w, replicate(rnd(T, in, 5), p), "col");
              },
              [&](World& w) { dry::column_parallel_linear(w, T, in, out, o, "col"); });
      compare(p,
              [&](World& w) {
                MergedColumnParallelLinear::from_masters({W, rnd(12, in, 6)}, {}, p, o)
                    .forward(w, replicate(rnd(T, in, 5), p), "merged");
              },
              [&](World& w) { dry::merged_column_parallel_linear(w, T, in, {out, 12}, o, "merged"); });
    }
    for (ReduceOrder order : {ReduceOrder::RankOrder, ReduceOrder::Ring})
      for (bool reduce : {true, false}) {
        RowParallelOptions o;
        o.order = order;
        o.reduce_results = reduce;
        o.input_is_parallel = false;
        o.bias_placement = BiasPlacement::Rank0BeforeReduce;
        compare(p,
                [&](World& w) {
                  RowParallelLinear::from_master(W_row, &b_row, p, o).forward(w, replicate(rnd(T, in, 7), p), "row");
                },
                [&](World& w) { dry::row_parallel_linear(w, T, in, 8, o, "row"); });
      }
  }
}

TEST_CASE("dry attention matches chapter 5, heads split and replicated") {
  struct Heads {
    int nH, nKV;
  };
  const Eigen::Index T = 4;
  for (int p : {1, 2, 3, 4})
    for (Heads h : {Heads{12, 4}, Heads{12, 6}, Heads{12, 12}, Heads{12, 2}}) {
      if (h.nH % p != 0 || (h.nKV % p != 0 && p % h.nKV != 0)) continue;
      CAPTURE(h.nH);
      CAPTURE(h.nKV);
      const int d = 3;
      const Eigen::Index H = 12;
      for (bool bias : {false, true}) {
        const atp::AttentionWeights wts = atp::random_attention_weights(H, h.nH, h.nKV, d, 11, bias);
        compare(p,
                [&](World& w) {
                  ParallelAttention::from_masters(wts, h.nH, h.nKV, p, {true, ReduceOrder::Ring}, d)
                      .forward(w, replicate(rnd(T, H, 8), p), "attn");
                },
                [&](World& w) { dry::parallel_attention(w, T, {H, h.nH, h.nKV, d}, ReduceOrder::Ring, "attn"); });
      }
    }
}

TEST_CASE("dry MLPs match chapter 4, GELU and gated") {
  const Eigen::Index T = 3, H = 8, I = 24;
  for (int p : {1, 2, 3, 4})
    for (ReduceOrder order : {ReduceOrder::RankOrder, ReduceOrder::Ring}) {
      ParallelMLPOptions o;
      o.order = order;
      compare(p,
              [&](World& w) {
                ParallelMLP::from_master(rnd(I, H, 1), rnd(1, I, 2), rnd(H, I, 3), rnd(1, H, 4), p, o)
                    .forward(w, replicate(rnd(T, H, 5), p), "mlp");
              },
              [&](World& w) { dry::parallel_mlp(w, T, H, I, order, "mlp"); });
      compare(p,
              [&](World& w) {
                ParallelGatedMLP::from_master(rnd(I, H, 1), rnd(I, H, 2), rnd(H, I, 3), p, o)
                    .forward(w, replicate(rnd(T, H, 5), p), "gated");
              },
              [&](World& w) { dry::parallel_gated_mlp(w, T, H, I, order, "gated"); });
    }
}

TEST_CASE("dry embedding and LM head match chapter 6") {
  const Eigen::Index V = 150, H = 6, T = 5;
  const Matrix table = rnd(V, H, 3);
  const std::vector<std::int64_t> ids = {0, 149, 64, 7, 100};
  for (int p : {1, 2, 3, 4}) {
    for (ReduceOrder order : {ReduceOrder::RankOrder, ReduceOrder::Ring})
      compare(p, [&](World& w) { VocabParallelEmbedding::from_master(table, p, order).forward(w, ids, "embed"); },
              [&](World& w) { dry::vocab_parallel_embedding(w, T, V, H, order, "embed"); });
    for (LogitsCollective c : {LogitsCollective::AllGather, LogitsCollective::Gather})
      compare(p,
              [&](World& w) { ParallelLMHead::from_master(table, p).forward(w, replicate(rnd(T, H, 4), p), c, "lm"); },
              [&](World& w) { dry::parallel_lm_head(w, T, V, H, c, "lm"); });
    compare(p,
            [&](World& w) {
              const auto head = ParallelLMHead::from_master(table, p);
              head.argmax(w, head.local_logits(w, replicate(rnd(T, H, 4), p), "lm"), "lm");
            },
            [&](World& w) {
              for (int r = 0; r < p; ++r) record_matmul(w, r, T, atp::sim::vocab_per_rank(V, p), H, "lm");
              dry::lm_head_argmax(w, T, "lm");
            });
  }
}

TEST_CASE("dry layers refuse what the real layers refuse, with the same message") {
  World w(3);
  const std::string real = error_of([&] { ParallelGatedMLP::from_master(rnd(8, 4, 1), rnd(8, 4, 2), rnd(4, 8, 3), 3); });
  const std::string dry = error_of([&] { dry::parallel_gated_mlp(w, 2, 4, 8, ReduceOrder::RankOrder, "mlp"); });
  CHECK(!real.empty());
  CHECK(real == dry);
  CHECK(contains(dry, "valid tp: 1, 2, 4, 8"));
  CHECK(contains(error_of([&] { dry::parallel_attention(w, 2, {8, 4, 4, 2}, ReduceOrder::RankOrder, "a"); }),
                 "not divisible by tp 3"));
  CHECK(contains(error_of([&] { dry::vocab_parallel_embedding(w, 2, 100, 4, ReduceOrder::RankOrder, "e"); }),
                 "valid tp"));
}
