/// \file parallel_attention.cpp
/// \brief Chapter 5: attention split by heads over p simulated ranks: QKV
/// column-parallel, local attention per head (no communication), output
/// projection row-parallel with one all-reduce; grouped-query KV heads split
/// or replicated; weight and KV-cache bytes per rank.
///
/// Run: `atp-ch05-parallel-attention [--tp 4] [--tokens 6] [--hidden 384] [--heads 48] [--kv-heads 24]
///       [--causal] [--seed 2026] [--narrate] [--dump DIR]`
///
/// Legend: T = tokens, H = hidden, nH = query heads, nKV = KV heads,
/// d = H / nH = head_dim, p = ranks, nH_r = nH/p, nKV_r = KV heads on rank r.
///
/// Dumped tensors (--dump): globals x (T, H), Wq, Wk, Wv, Wo and bq, bk, bv, bo;
/// per rank r: W_qkv.rank<r> ((nH_r + 2 nKV_r) d, H), b_qkv.rank<r>, W_o.rank<r>
/// (H, nH_r d), q/k/v.rank<r>, probs.rank<r> (nH_r T, T: local head i in rows
/// [i T, (i+1) T)), context.rank<r> (T, nH_r d), partial.rank<r> (T, H),
/// out.rank<r> (T, H). The manifest's config lists every rank's heads.
/// Leaves out: the GPU half (parallel_attention_gpu.cpp runs the same layer on NCCL ranks).
#include "attention_masters.hpp"

#include "atp/dense_attention_reference.hpp"
#include "atp/dense_reference.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/layers/parallel_attention.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"
#include "atp/ulp.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

namespace sim = atp::sim;
using atp::Matrix;

namespace {

std::string heads_text(const sim::HeadRange& r) {
  return r.size() == 1 ? std::to_string(r.begin) : std::to_string(r.begin) + ".." + std::to_string(r.end - 1);
}

/// Section 1 and 2: one row per rank of which Q and KV heads it holds.
void print_assignment(int nH, int nKV, int p) {
  for (int r = 0; r < p; ++r) {
    const sim::HeadAssignment a = sim::head_assignment(nH, nKV, p, r);
    std::printf("   %4d  %-10s %-10s %s\n", r, heads_text(a.q_heads).c_str(), heads_text(a.kv_heads).c_str(),
                a.kv_replicas > 1 ? ("copy " + std::to_string(r % a.kv_replicas + 1) + " of " +
                                     std::to_string(a.kv_replicas)).c_str()
                                  : "split");
  }
}

/// Section 2: the GQA example of the README, nH = 8, nKV = 2, p = 1, 2, 4, 8.
void gqa_table() {
  std::printf("2. Grouped-query attention, nH=8 query heads sharing nKV=2 KV heads (group of 4):\n"
              "   p divides nKV: KV heads are split; p > nKV: each KV head is replicated on p/nKV ranks\n\n");
  for (int p : {1, 2, 4, 8}) {
    std::printf("   p=%d   rank  Q heads    KV heads\n", p);
    print_assignment(8, 2, p);
  }
  std::printf("\n");
}

/// Section 5: KV-cache bytes per rank for a Llama-2-70B-like layer, from the head rule.
void kv_cache_sweep() {
  const int nH = 64, nKV = 8, d = 128;
  const long long T = 4096;
  std::printf("5. KV-cache bytes per rank, one layer of a Llama-2-70B-like model (nH=%d, nKV=%d, d=%d),\n"
              "   T=%lld cached tokens, fp32: 2 * T * nKV_r * d * 4\n\n", nH, nKV, d, T);
  std::printf("   %4s  %6s  %8s  %14s  %12s\n", "p", "nKV_r", "replicas", "bytes per rank", "x of p=1");
  const double base = 2.0 * T * nKV * d * 4;
  for (int p : {1, 2, 4, 8, 16, 32, 64}) {
    const sim::HeadAssignment a = sim::head_assignment(nH, nKV, p, 0);
    const long long bytes = 2 * T * a.kv_heads.size() * d * 4;
    std::printf("   %4d  %6d  %8d  %14lld  %12.4f\n", p, a.kv_heads.size(), a.kv_replicas, bytes, bytes / base);
  }
  std::printf("\n   Past p = nKV the cache per rank stops shrinking: every rank must keep a whole KV head.\n\n");
}

/// Section 6: what the layer refuses, and what it says.
void invalid_combinations() {
  std::printf("6. Invalid combinations, and the errors they raise\n\n");
  const struct { int nH, nKV, p; } bad[] = {{8, 2, 3}, {12, 4, 3}, {8, 3, 1}};
  for (const auto& b : bad) {
    try {
      sim::check_attention_heads(b.nH, b.nKV, b.p);
      std::printf("   nH=%d nKV=%d p=%d: accepted?!\n", b.nH, b.nKV, b.p);
    } catch (const std::invalid_argument& e) {
      std::printf("   nH=%d nKV=%d p=%d:\n     %s\n", b.nH, b.nKV, b.p, e.what());
    }
  }
  const Matrix W = atp::random_matrix(48, 48, 1, 1);
  try {
    sim::QKVParallelLinear::from_masters(W, W, W, nullptr, nullptr, nullptr, 8, 2, 2, 4);
  } catch (const std::invalid_argument& e) {
    std::printf("   head_dim 4 for a (48, 48) Wq with 8 heads:\n     %s\n", e.what());
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 5: parallel attention, on p simulated ranks."};
  // 48 query / 24 KV heads: every p in {1, 2, 3, 4, 6, 8} splits both evenly (the tour runs p = 1, 2, 3, 4, 8).
  int tp = 4, tokens = 6, hidden = 384, heads = 48, kv_heads = 24;
  bool causal = false, narrate = false;
  std::uint64_t seed = 2026;
  std::string dump_dir;
  app.add_option("--tp", tp, "number of ranks p")->check(CLI::Range(1, 64));
  app.add_option("--tokens", tokens, "tokens T")->check(CLI::Range(1, 4096));
  app.add_option("--hidden", hidden, "hidden size H (a multiple of --heads)")->check(CLI::Range(1, 8192));
  app.add_option("--heads", heads, "query heads nH")->check(CLI::Range(1, 1024));
  app.add_option("--kv-heads", kv_heads, "key/value heads nKV (divides nH; nKV = nH is plain multi-head)")
      ->check(CLI::Range(1, 1024));
  // An option with an optional value, so that both `--causal` and `--causal 1` (atp-compare's form) work.
  app.add_option("--causal", causal, "causal mask (--causal alone, or --causal 1 / 0)")
      ->expected(0, 1)
      ->default_str("1")
      ->option_text("[1|0] (off unless given)");
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_flag("--narrate", narrate, "print what every rank holds at every step");
  app.add_option("--dump", dump_dir, "write every tensor as .npy plus manifest.json into this folder");
  CLI11_PARSE(app, argc, argv);

  try {
    std::printf("Chapter 5: parallel attention (p=%d, T=%d, H=%d, nH=%d, nKV=%d, %s, seed=%llu)\n\n", tp, tokens,
                hidden, heads, kv_heads, causal ? "causal" : "not causal", static_cast<unsigned long long>(seed));
    const auto m = atp::ch05::make_attention_masters(tokens, hidden, heads, kv_heads, seed);
    sim::ParallelAttentionOptions options;
    options.causal = causal;
    const auto layer = sim::ParallelAttention::from_masters(m.w, heads, kv_heads, tp, options);
    const int d = layer.qkv().head_dim();

    std::printf("1. Heads split across ranks: rank r holds query heads [r*nH/p, (r+1)*nH/p) = %d each (d=%d)\n\n"
                "   rank  Q heads    KV heads\n", heads / tp, d);
    print_assignment(heads, kv_heads, tp);
    std::printf("\n   Its QKV shard stacks the Wq rows of its Q heads over the Wk and Wv rows of its KV heads:\n"
                "   W_qkv_r is %s; one matmul gives [q_r | k_r | v_r].\n\n",
                atp::shape_string(layer.qkv().weight()[0]).c_str());
    gqa_table();

    sim::World world(tp);
    if (narrate) world.narrate_to(std::cout);
    std::printf("3. One forward pass: QKV (column-parallel), attention per head, output projection + all-reduce\n\n");
    const auto s = layer.forward_steps(world, sim::replicate(m.x, tp), "attn");

    // The dense single-device layer is the same code at p = 1: one rank holds every head.
    sim::World dense_world(1);
    const auto dense = sim::ParallelAttention::from_masters(m.w, heads, kv_heads, 1, options)
                           .forward_steps(dense_world, sim::replicate(m.x, 1), "dense");
    const auto ctx = atp::compare_bitwise(sim::concat_cols(s.context), dense.context[0]);
    const auto out = atp::compare_bitwise(s.out[0], dense.out[0]);
    const auto ref = atp::attention_ref(m.x, m.w, heads, kv_heads, causal);
    std::printf("   context, all ranks' heads side by side, vs the dense layer: %zu of %zu elements differ\n"
                "     (no sum is split before the output projection: every head runs whole on one rank)\n",
                ctx.differing, ctx.count);
    std::printf("   output vs the dense layer: %zu of %zu elements differ, max %u ulp, max |difference| %.3g\n"
                "     (the output projection splits each dot product over the ranks' heads; the all-reduce adds\n"
                "      the pieces in another order%s)\n",
                out.differing, out.count, out.max_ulp,
                static_cast<double>((s.out[0] - dense.out[0]).cwiseAbs().maxCoeff()),
                tp == 1 ? "; at p = 1 there is nothing to split" : "");
    double probs_err = 0.0;  // over every head of every rank: head h of rank r is global head q_heads.begin + i
    for (int r = 0; r < tp; ++r)
      for (std::size_t i = 0; i < s.probs[r].size(); ++i)
        probs_err = std::max(probs_err, atp::max_abs_error(s.probs[r][i],
                                                           ref.probs[static_cast<std::size_t>(
                                                               layer.qkv().assignment(r).q_heads.begin) + i]));
    std::printf("   max |error| vs float64 dense attention (over all %d heads): probs %.3g, context %.3g, output %.3g\n\n",
                heads, probs_err, atp::max_abs_error(sim::concat_cols(s.context), ref.context),
                atp::max_abs_error(s.out[0], ref.out));

    std::printf("4. The trace: %lld all-reduce per forward, %lld matmuls per rank (QKV, 2 per head, output)\n\n%s\n",
                static_cast<long long>(world.trace().count(sim::ops::kAllReduceRankOrder)),
                static_cast<long long>(world.trace().count(sim::kMatmulOp, 0)), world.trace().summary().c_str());

    layer.account_memory(world, "attn", tokens);
    std::printf("   Memory per rank (bytes; KV cache for the T=%d tokens of this run):\n\n%s\n", tokens,
                world.memory().table().c_str());
    kv_cache_sweep();
    invalid_combinations();

    if (!dump_dir.empty()) {
      nlohmann::json assignment = nlohmann::json::array();
      for (int r = 0; r < tp; ++r) {
        const sim::HeadAssignment a = layer.qkv().assignment(r);
        assignment.push_back({{"rank", r}, {"q_heads", {a.q_heads.begin, a.q_heads.end}},
                              {"kv_heads", {a.kv_heads.begin, a.kv_heads.end}}, {"kv_replicas", a.kv_replicas}});
      }
      sim::Dumper dump(dump_dir, {{"chapter", 5}, {"p", tp}, {"tokens", tokens}, {"hidden", hidden},
                                  {"heads", heads}, {"kv_heads", kv_heads}, {"causal", causal ? 1 : 0},
                                  {"seed", seed}, {"head_dim", d}, {"assignment", assignment},
                                  {"strategy", "QKV column-parallel by heads (KV split or replicated), attention "
                                               "per head, output projection row-parallel + one rank-order "
                                               "all-reduce, biases after the reduce"}});
      dump.add("x", m.x, "input");
      dump.add("Wq", m.w.Wq, "weight");
      dump.add("Wk", m.w.Wk, "weight");
      dump.add("Wv", m.w.Wv, "weight");
      dump.add("Wo", m.w.Wo, "weight");
      dump.add("bq", m.w.bq, "weight");
      dump.add("bk", m.w.bk, "weight");
      dump.add("bv", m.w.bv, "weight");
      dump.add("bo", m.w.bo, "weight");
      dump.add_per_rank("W_qkv", layer.qkv().weight(), "weight_shard");
      dump.add_per_rank("b_qkv", layer.qkv().bias(), "weight_shard");
      dump.add_per_rank("W_o", layer.out_proj().weight(), "weight_shard");
      dump.add_per_rank("q", s.qkv.q, "intermediate");
      dump.add_per_rank("k", s.qkv.k, "intermediate");
      dump.add_per_rank("v", s.qkv.v, "intermediate");
      for (int r = 0; r < tp; ++r) {
        Matrix probs(static_cast<Eigen::Index>(s.probs[r].size()) * tokens, tokens);
        for (std::size_t i = 0; i < s.probs[r].size(); ++i)
          probs.middleRows(static_cast<Eigen::Index>(i) * tokens, tokens) = s.probs[r][i];
        dump.add(sim::Dumper::rank_name("probs", r), probs, "intermediate", r);
      }
      dump.add_per_rank("context", s.context, "intermediate");
      dump.add_per_rank("partial", s.partial, "intermediate");
      dump.add_per_rank("out", s.out, "output");
      dump.finish();
      std::printf("Wrote the dump to %s\n", dump_dir.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
