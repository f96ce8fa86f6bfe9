/// \file sequence_parallelism.cpp
/// \brief Chapter 12: sequence parallelism on p simulated ranks. The norms
/// and residual adds of a transformer block run on rank r's tokens only;
/// each all-reduce becomes a reduce-scatter into those tokens, and the next
/// column-parallel layer starts with an all-gather. The same bits as tensor
/// parallelism, the same bytes as a ring all-reduce (from the trace), the
/// activation memory of those regions divided by p (from the ledger, next to
/// the formula of Korthikanti et al.), and one more launch per collective.
///
/// Run: `atp-ch12-sequence-parallelism [--tp 4] [--tokens 24] [--hidden 96] [--intermediate 192]
///       [--heads 24] [--kv-heads 24] [--layers 2] [--order rank-order|tree] [--seed 2026] [--narrate] [--dump DIR]`
///
/// Legend: T = tokens, H = hidden, I = intermediate, a = heads, L = layers, p = ranks.
/// Dumped tensors (the GPU worker writes the same names): x (T, H);
/// tp_output.rank<r> (T, H); sp_output.rank<r> (T/p, H). The dump's config
/// also carries "memory_sweep": the ledger's bytes per rank for several T.
/// Leaves out: the GPU half (sequence_parallelism_gpu.cpp), the backward pass.
#include "sp_block.hpp"

#include "atp/matmul_tree.hpp"

#include "atp/sim/collectives.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/golden.hpp"
#include "atp/ulp.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace sim = atp::sim;
using atp::Matrix;
using atp::ch12::BlockSizes;
using atp::ch12::BlockWeights;

namespace {

struct Run {
  BlockSizes s;
  int p = 4, layers = 2;
  sim::ReduceOrder order = sim::ReduceOrder::RankOrder;
  std::vector<BlockWeights> w;
  Matrix x;
};

std::string digest(const Matrix& m) { return sim::digest_matrix(m).fnv1a64; }

/// Bytes of activations rank 0 holds, split into the six region tensors and the gathered buffers.
struct Held {
  std::int64_t regions = 0, gathered = 0;
};
Held held(const sim::World& world) {
  Held h;
  for (const auto& e : world.memory().entries())
    if (e.rank == 0 && e.kind == sim::MemoryKind::Activation)
      (e.name.find("gathered") != std::string::npos ? h.gathered : h.regions) += e.bytes;
  return h;
}

/// Section 1: who holds which tokens.
void regions(const Run& run) {
  const int rows = static_cast<int>(sim::sequence_rows_per_rank(run.s.T, run.p));
  std::printf("1. The sequence-parallel regions (T=%d tokens, p=%d)\n\n", run.s.T, run.p);
  for (int r = 0; r < run.p; ++r)
    std::printf("   rank %d: tokens [%d, %d) in the norms and residual adds; all %d tokens, heads %d..%d and\n"
                "           intermediate features [%d, %d) inside attention and the MLP\n", r, r * rows,
                (r + 1) * rows, run.s.T, r * run.s.heads / run.p, (r + 1) * run.s.heads / run.p - 1,
                r * run.s.I / run.p, (r + 1) * run.s.I / run.p);
  std::printf("\n");
}

/// Section 2: the same bits as tensor parallelism.
void same_bits(const Run& run, const sim::PerRank<Matrix>& tp, const sim::PerRank<Matrix>& sp) {
  const int rows = run.s.T / run.p;
  std::printf("2. %d blocks, TP and SP (reduce order: %s)\n\n", run.layers, sim::to_string(run.order));
  bool equal = true;
  for (int r = 0; r < run.p; ++r) {
    const bool e = atp::compare_bitwise(sp[r], Matrix(tp[0].middleRows(r * rows, rows))).equal();
    equal = equal && e;
    std::printf("   rank %d: SP output (%d, %d) vs TP rows [%d, %d): %s\n", r, rows, run.s.H, r * rows, (r + 1) * rows,
                e ? "bitwise equal" : "DIFFERENT");
  }
  std::printf("   digest of the TP output %s, of the SP shards side by side %s: %s\n\n", digest(tp[0]).c_str(),
              digest(sim::concat_rows(sp)).c_str(), equal ? "the same" : "NOT the same");
  if (run.order == sim::ReduceOrder::RankOrder && run.p > 2) {
    // TP with NCCL's ring order instead: now the sums differ, chunk by chunk.
    sim::World ring(run.p);
    const auto tr = atp::ch12::run_blocks(ring, run.w, run.s, run.x, false, sim::ReduceOrder::Ring);
    const auto r = atp::compare_bitwise(tr[0], tp[0]);
    std::printf("   TP with the ring all-reduce instead: %zu of %zu elements differ from SP (max %u ulp). A ring\n"
                "   sums chunk c starting at rank c+1; the reduce-scatter here sums in rank order. Same bytes,\n"
                "   different order: compare SP with the TP that uses the same order.\n\n", r.differing, r.count,
                r.max_ulp);
  }
}

/// Section 3: the trace of one run each way.
void trace(const Run& run, const sim::World& tpw, const sim::World& spw) {
  std::printf("3. From the trace, %d blocks\n\n", run.layers);
  const auto& ar = run.order == sim::ReduceOrder::Tree ? sim::ops::kAllReduceTree : sim::ops::kAllReduceRankOrder;
  const auto& rs = run.order == sim::ReduceOrder::Tree ? sim::ops::kReduceScatterTree : sim::ops::kReduceScatter;
  std::printf("   TP: %lld all-reduces, rank 0 sends %lld bytes\n", static_cast<long long>(tpw.trace().count(ar)),
              static_cast<long long>(tpw.trace().bytes_sent(0)));
  std::printf("   SP: %lld all-gathers + %lld reduce-scatters, rank 0 sends %lld bytes\n",
              static_cast<long long>(spw.trace().count(sim::ops::kAllGather)),
              static_cast<long long>(spw.trace().count(rs)), static_cast<long long>(spw.trace().bytes_sent(0)));
  sim::World ring(run.p);
  for (int i = 0; i < 2 * run.layers; ++i)
    sim::all_reduce_ring(ring, sim::replicate(Matrix::Zero(run.s.T, run.s.H), run.p), "ring");
  std::printf("   the same %d all-reduces as a one-channel ring: rank 0 sends %lld bytes\n", 2 * run.layers,
              static_cast<long long>(ring.trace().bytes_sent(0)));
  std::printf("   A ring all-reduce IS a reduce-scatter followed by an all-gather, so SP moves exactly its\n"
              "   bytes, 2 (p-1)/p T H 4 per collective pair; it only puts the norms and residuals in between.\n"
              "   (The book's deterministic rank-order all-reduce gathers all p inputs instead.) The price is\n"
              "   launches: %d collectives per forward instead of %d.\n\n", 4 * run.layers, 2 * run.layers);
}

/// Bytes the ledger records on rank 0 for T tokens, TP and SP.
std::pair<Held, Held> ledger_at(const Run& run, int T) {
  Run r = run;
  r.s.T = T;
  r.x = atp::random_matrix(T, r.s.H, 2026, 0, 1.7f);
  sim::World tpw(run.p), spw(run.p);
  atp::ch12::run_blocks(tpw, r.w, r.s, r.x, false, run.order);
  atp::ch12::run_blocks(spw, r.w, r.s, r.x, true, run.order);
  return {held(tpw), held(spw)};
}

/// Section 4: activation memory of the regions, ledger next to the formula.
nlohmann::json memory(const Run& run) {
  std::printf("4. Activation memory per rank of the norm/residual regions (ledger, fp32, %d blocks)\n\n", run.layers);
  std::printf("   %-6s %-16s %-16s %-10s %-s\n", "T", "TP bytes", "SP bytes", "TP / SP",
              "SP's gathered input, one at a time");
  nlohmann::json sweep = nlohmann::json::array();
  for (int T : {run.s.T, 4 * run.s.T, 16 * run.s.T}) {
    if (T % run.p != 0) continue;
    const auto [tp, sp] = ledger_at(run, T);
    const std::int64_t one_gathered = sp.gathered / (2 * run.layers);  // two per block, each freed after its layer
    std::printf("   %-6d %-16lld %-16lld %-10.2f %lld\n", T, static_cast<long long>(tp.regions),
                static_cast<long long>(sp.regions), static_cast<double>(tp.regions) / static_cast<double>(sp.regions),
                static_cast<long long>(one_gathered));
    sweep.push_back({{"T", T}, {"tp_bytes", tp.regions}, {"sp_bytes", sp.regions}, {"sp_gathered_bytes", one_gathered}});
  }
  const double s = run.s.T, h = run.s.H, a = run.s.heads, t = run.p;
  std::printf("\n   Six (T, H) tensors per block (input, norm1, attn_out, residual1, norm2, mlp_out): 24 T H L bytes\n"
              "   per rank with TP, 24 T H L / p with SP. Korthikanti et al. (2022), 'Reducing Activation\n"
              "   Recomputation in Large Transformer Models', count what training keeps per layer (16-bit, with\n"
              "   dropout masks, batch b = 1):\n"
              "     TP:      s b h (10 + 24/t + 5 a s/(h t))   = %.0f bytes at s=%d, h=%d, a=%d, t=%d\n"
              "     TP + SP: s b h (34/t + 5 a s/(h t))        = %.0f bytes\n"
              "   Their 10 s b h are the layer norms' inputs, the dropouts and the inputs of the first linear\n"
              "   layers: the regions SP splits, 10 -> 10/t. Inference keeps no activations for a backward pass,\n"
              "   so the book's ledger counts what one forward holds; the ratio is the same p.\n\n",
              s * h * (10.0 + 24.0 / t + 5.0 * a * s / (h * t)), run.s.T, run.s.H, run.s.heads, run.p,
              s * h * (34.0 / t + 5.0 * a * s / (h * t)));
  return sweep;
}

/// Section 5: decode steps.
void decode(const Run& run) {
  std::printf("5. Decode: one new token per step\n\n");
  try {
    sim::sequence_rows_per_rank(1, run.p);
    std::printf("   p = 1: nothing to split; SP and TP are the same program.\n\n");
  } catch (const std::invalid_argument& e) {
    std::printf("   T = 1: %s\n", e.what());
  }
  std::printf("   Even batched decode (T = batch size) gains little: the regions hold T x H per rank, tiny next to\n"
              "   the KV cache, while each block launches 4 collectives instead of 2 on messages so small that\n"
              "   latency, not bandwidth, sets their time. vLLM applies its sequence-parallelism compile pass only\n"
              "   above a token threshold (SequenceParallelismPass.is_applicable_for_range, sp_min_token_num, in\n"
              "   vllm/compilation/passes/fusion/sequence_parallelism.py); PyTorch's torchchat removed SP from its\n"
              "   distributed inference for these reasons (pytorch/torchchat pull request 1160).\n\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 12: sequence parallelism (Megatron-LM style) on p simulated ranks."};
  Run run;
  std::uint64_t seed = 2026;
  bool narrate = false;
  std::string dump_dir, order = "rank-order";
  app.add_option("--tp", run.p, "number of ranks p (must divide the tokens)")->check(CLI::Range(1, 64));
  app.add_option("--tokens", run.s.T, "tokens T (p must divide them)")->check(CLI::Range(1, 4096));
  app.add_option("--hidden", run.s.H, "hidden size H")->check(CLI::Range(1, 4096));
  app.add_option("--intermediate", run.s.I, "intermediate size I")->check(CLI::Range(1, 16384));
  app.add_option("--heads", run.s.heads, "query heads (must divide H)")->check(CLI::Range(1, 256));
  app.add_option("--kv-heads", run.s.kv_heads, "key/value heads")->check(CLI::Range(1, 256));
  app.add_option("--layers", run.layers, "blocks L")->check(CLI::Range(1, 16));
  app.add_option("--order", order, "the reduce order of TP and SP alike")->check(CLI::IsMember({"rank-order", "tree"}));
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_flag("--narrate", narrate, "print what every rank holds at every step of the SP blocks");
  app.add_option("--dump", dump_dir, "write the tensors as .npy plus manifest.json into this folder");
  CLI11_PARSE(app, argc, argv);

  try {
    run.order = sim::parse_reduce_order(order);
    if (run.s.H % run.s.heads != 0)
      throw std::invalid_argument("hidden size " + std::to_string(run.s.H) + " is not a multiple of " +
                                  std::to_string(run.s.heads) + " heads");
    sim::sequence_rows_per_rank(run.s.T, run.p);
    if (run.order == sim::ReduceOrder::Tree) atp::check_tree_tp(atp::kDefaultTreeSegments, run.p, "--order tree");
    std::printf("Chapter 12: sequence parallelism (p=%d, T=%d, H=%d, I=%d, heads %d/%d, L=%d, order %s, seed=%llu)\n\n",
                run.p, run.s.T, run.s.H, run.s.I, run.s.heads, run.s.kv_heads, run.layers, order.c_str(),
                static_cast<unsigned long long>(seed));
    for (int l = 0; l < run.layers; ++l) run.w.push_back(atp::ch12::make_block_weights(run.s, l, seed));
    run.x = atp::random_matrix(run.s.T, run.s.H, seed, 0, 1.7f);
    regions(run);
    sim::World tpw(run.p), spw(run.p);
    const auto tp = atp::ch12::run_blocks(tpw, run.w, run.s, run.x, false, run.order);
    if (narrate) spw.narrate_to(std::cout);
    const auto sp = atp::ch12::run_blocks(spw, run.w, run.s, run.x, true, run.order);
    spw.stop_narrating();
    same_bits(run, tp, sp);
    trace(run, tpw, spw);
    const nlohmann::json sweep = memory(run);
    decode(run);
    if (!dump_dir.empty()) {
      sim::Dumper d(dump_dir, nlohmann::json{{"chapter", 12}, {"p", run.p}, {"tokens", run.s.T}, {"hidden", run.s.H},
                                             {"intermediate", run.s.I}, {"heads", run.s.heads},
                                             {"kv_heads", run.s.kv_heads}, {"layers", run.layers},
                                             {"order", order}, {"seed", seed},
                                             {"memory_sweep", sweep}});
      d.add("x", run.x, "input");
      d.add_per_rank("tp_output", tp, "output");
      d.add_per_rank("sp_output", sp, "output");
      d.finish();
      std::printf("Wrote the dump to %s\n", dump_dir.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
