/// \file parallel_attention_gpu.cpp
/// \brief Chapter 5, GPU half: one rank of p real processes running the same
/// attention layer as parallel_attention.cpp on the same inputs, over NCCL,
/// and dumping its tensors under the same names so they can be compared bit for bit.
///
/// Run: `atp-launch -p 4 -- atp-ch05-parallel-attention-gpu [--tokens 6] [--hidden 384] [--heads 48]
///       [--kv-heads 24] [--causal] [--seed 2026] [--dump DIR]`
///
/// Legend: T = tokens, H = hidden, nH = query heads, nKV = KV heads, d = H / nH,
/// nH_r = nH / p, nKV_r = KV heads on this rank.
///
/// Each rank writes DIR/rank<r>/ (the ranks are separate processes): its
/// W_qkv, b_qkv, W_o, q, k, v, probs (nH_r T, T), context, partial, out, all
/// named "<name>.rank<r>" as the CPU binary names them; rank 0 also writes
/// the globals x, Wq, Wk, Wv, Wo, bq, bk, bv, bo (host copies of what it uploaded).
/// Leaves out: the narration, trace and memory tables of the CPU chapter.
#include "attention_masters.hpp"

#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/layers/parallel_attention.hpp"
#include "atp/cuda/worker.hpp"
#include "atp/sim/cli.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/memory_budget.hpp"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace cu = atp::cuda;
namespace sim = atp::sim;
using atp::Matrix;

namespace {

/// This rank's largest host tensors, for sim::require_memory (memory_budget.hpp).
sim::MemoryEstimate memory_needed(int T, int H, int heads) {
  sim::MemoryEstimate need;
  need.add("Wq, Wk, Wv, Wo (at most (H, H) each): masters and shards", {4, H, H}, 2);
  need.add("probabilities (T, T) of the heads, downloaded", {heads, T, T});
  need.add("q, k, v, contexts and outputs (T, H)", {T, H}, 10);
  return need;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 5, GPU half: one rank of parallel attention over NCCL (run under atp-launch)."};
  int tp = 0, tokens = 6, hidden = 384, heads = 48, kv_heads = 24;  // the CPU binary's defaults
  bool causal = false;
  std::uint64_t seed = 2026;
  std::string dump_dir;
  namespace cli = atp::sim::cli;
  cli::add_tp(app, tp, 64, "expected number of ranks p (checked against atp-launch's)", "the p atp-launch started");
  cli::add_integer(app, "--tokens", tokens, 1, 4096, "tokens T");
  cli::add_integer(app, "--hidden", hidden, 1, 8192, "hidden size H (a multiple of --heads)");
  cli::add_integer(app, "--heads", heads, 1, 1024, "query heads nH");
  cli::add_integer(app, "--kv-heads", kv_heads, 1, 1024, "key/value heads nKV");
  // `--causal` alone and `--causal 1` (atp-compare's form) both turn it on.
  cli::add_flag(app, "--causal", causal, "causal mask");
  cli::add_seed(app, seed);
  cli::add_dump(app, dump_dir, "write this rank's tensors into DIR/rank<r>/ (.npy plus manifest.json)");
  if (const auto rc = cli::parse(app, argc, argv)) return *rc;

  int rank = -1;
  try {
    sim::require_memory(memory_needed(tokens, hidden, heads), "this configuration");  // before anything big is built
    cu::Communicator comm = cu::join_world(tp);
    rank = comm.rank();
    const int p = comm.world_size();
    const auto m = atp::ch05::make_attention_masters(tokens, hidden, heads, kv_heads, seed);
    const auto layer = cu::ParallelAttention::from_masters(m.w, heads, kv_heads, rank, p, {causal});
    const cu::DeviceMatrix x = cu::to_device(m.x, comm.stream());
    const auto s = layer.forward_steps(comm, x);

    if (!dump_dir.empty()) {
      const int r = rank;
      sim::Dumper dump(cu::rank_dump_dir(dump_dir, r),
                       nlohmann::json{{"chapter", 5}, {"p", p}, {"tokens", tokens}, {"hidden", hidden},
                                      {"heads", heads}, {"kv_heads", kv_heads}, {"causal", causal ? 1 : 0},
                                      {"seed", seed}, {"side", "gpu"}});
      if (r == 0) {
        dump.add("x", m.x, "input");
        dump.add("Wq", m.w.Wq, "weight");
        dump.add("Wk", m.w.Wk, "weight");
        dump.add("Wv", m.w.Wv, "weight");
        dump.add("Wo", m.w.Wo, "weight");
        dump.add("bq", m.w.bq, "weight");
        dump.add("bk", m.w.bk, "weight");
        dump.add("bv", m.w.bv, "weight");
        dump.add("bo", m.w.bo, "weight");
      }
      auto add = [&](const char* name, const cu::DeviceMatrix& d, const char* role) {
        dump.add(sim::Dumper::rank_name(name, r), cu::to_host(d, comm.stream()), role, r);
      };
      add("W_qkv", layer.qkv().weight(), "weight_shard");
      add("b_qkv", layer.qkv().bias(), "weight_shard");
      add("W_o", layer.out_proj().weight(), "weight_shard");
      add("q", s.qkv.q, "intermediate");
      add("k", s.qkv.k, "intermediate");
      add("v", s.qkv.v, "intermediate");
      add("probs", s.probs, "intermediate");
      add("context", s.context, "intermediate");
      add("partial", s.partial, "intermediate");
      add("out", s.out, "output");
      dump.finish();
    }
    if (rank == 0)
      std::printf("Chapter 5 (GPU): p=%d ranks, T=%d, H=%d, nH=%d, nKV=%d, %s, seed=%llu: attention ran on %s%s\n",
                  p, tokens, hidden, heads, kv_heads, causal ? "causal" : "not causal",
                  static_cast<unsigned long long>(seed), comm.describe().c_str(),
                  dump_dir.empty() ? "" : ", tensors dumped");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-ch05-parallel-attention-gpu (rank %d): %s\n", rank, e.what());
    return 1;
  }
  return 0;
}
