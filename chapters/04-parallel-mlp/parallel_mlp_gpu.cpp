/// \file parallel_mlp_gpu.cpp
/// \brief Chapter 4, GPU half: one rank of p real processes running the
/// tensor-parallel MLP (GELU or SwiGLU) on the same inputs as parallel_mlp.cpp,
/// and dumping its tensors under the same names so atp-compare can check every bit.
///
/// Run: `atp-launch -p 4 -- atp-ch04-parallel-mlp-gpu [--tokens 4] [--hidden 24] [--intermediate 96]
///       [--mlp gelu|swiglu] [--gelu tanh|erf] [--seed 2026] [--dump DIR]`
///
/// Legend: T = tokens, H = hidden, I = intermediate, p = ranks.
///
/// Each rank writes its own dump, DIR/rank<r>/ (the ranks are separate
/// processes; atp-compare merges them). Rank 0 also writes the globals:
///
///     x, W_up, b_up, W_down, b_down [gelu] / W_gate, W_up, W_down [swiglu]   rank 0 only
///     W_up_shard.rank<r>, b_up_shard.rank<r> [gelu] / W_gate_up_shard.rank<r> [swiglu],
///     W_down_shard.rank<r>                     downloaded from this rank's device
///     intermediate.rank<r>, activated.rank<r>, partial_sums.rank<r>, output.rank<r>
///
/// The down projection's all-reduce is the deterministic rank-order form
/// (AllReduceForm::RankOrder), so every tensor must equal the simulator's bits.
/// Leaves out: narration, the trace, the dense comparisons and the
/// "other way round" experiment (the CPU chapter tells that story).
#include "mlp_masters.hpp"

#include "atp/activations.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/layers/parallel_mlp.hpp"
#include "atp/cuda/worker.hpp"
#include "atp/sim/cli.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/layers/tp_divide.hpp"
#include "atp/sim/memory_budget.hpp"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace cu = atp::cuda;
namespace sim = atp::sim;
using atp::Matrix;

namespace {

/// This rank's largest host tensors, for sim::require_memory (memory_budget.hpp).
sim::MemoryEstimate memory_needed(int T, int H, int I, bool gated) {
  sim::MemoryEstimate need;
  need.add("weights (I, H): masters, shards and device round trips", {gated ? 3 : 2, I, H}, 3);
  need.add("intermediates (T, I) and outputs (T, H)", {T, 4 * I + 4 * H});
  return need;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 4, GPU half: one rank of the tensor-parallel MLP (run under atp-launch)."};
  int tp = 0, T = 4, H = 24, I = 96;
  std::uint64_t seed = 2026;
  std::string dump_dir, mlp = "gelu", gelu = "tanh";
  namespace cli = atp::sim::cli;
  cli::add_tp(app, tp, 64, "expected number of ranks p (checked against atp-launch's)", "the p atp-launch started");
  cli::add_integer(app, "--tokens", T, 1, 4096, "tokens T");
  cli::add_integer(app, "--hidden", H, 1, 8192, "hidden size H");
  cli::add_integer(app, "--intermediate", I, 1, 32768, "intermediate size I (p must divide it)");
  cli::add_choice(app, "--mlp", mlp, {"gelu", "swiglu"}, "gelu (ViT, CLIP, GPT) or swiglu (Llama)");
  cli::add_choice(app, "--gelu", gelu, {"tanh", "erf"}, "GELU form");
  cli::add_seed(app, seed);
  cli::add_dump(app, dump_dir, "write this rank's tensors into DIR/rank<r>/ (.npy plus manifest.json)");
  if (const auto rc = cli::parse(app, argc, argv)) return *rc;

  int rank = -1;
  try {
    sim::require_memory(memory_needed(T, H, I, mlp == "swiglu"), "this configuration");  // before anything big is built
    cu::Communicator comm = cu::join_world(tp);
    rank = comm.rank();
    const int p = comm.world_size();
    sim::tp_divide(I, p, "intermediate size");
    const bool gated = mlp == "swiglu";
    cu::ParallelMLPOptions options;
    options.gelu = atp::parse_gelu_form(gelu);
    options.form = cu::AllReduceForm::RankOrder;
    const atp::ch04::MlpMasters m = atp::ch04::make_mlp_masters(T, H, I, seed);

    std::unique_ptr<sim::Dumper> dump;
    if (!dump_dir.empty())
      dump = std::make_unique<sim::Dumper>(
          cu::rank_dump_dir(dump_dir, rank),
          nlohmann::json{{"chapter", 4}, {"p", p}, {"tokens", T}, {"hidden", H}, {"intermediate", I}, {"seed", seed},
                         {"mlp", mlp}, {"gelu", gelu}, {"side", "gpu"}});
    if (dump && rank == 0) {  // the globals, once
      dump->add("x", m.x, "input");
      if (gated) dump->add("W_gate", m.W_gate, "weight");
      dump->add("W_up", m.W_up, "weight");
      if (!gated) dump->add("b_up", m.b_up, "weight");
      dump->add("W_down", m.W_down, "weight");
      if (!gated) dump->add("b_down", m.b_down, "weight");
    }
    auto shard = [&](const std::string& name, const cu::DeviceMatrix& d) {
      if (dump) dump->add(sim::Dumper::rank_name(name, rank), cu::to_host(d), "weight_shard", rank);
    };

    const cu::DeviceMatrix x = cu::to_device(m.x);
    cu::MLPForward f;
    if (gated) {
      const auto layer = cu::ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, rank, p, options);
      shard("W_gate_up_shard", layer.gate_up().layer().weight());
      shard("W_down_shard", layer.down().weight());
      f = layer.forward_steps(comm, x);
    } else {
      const auto layer = cu::ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, rank, p, options);
      shard("W_up_shard", layer.up().weight());
      shard("b_up_shard", *layer.up().bias());
      shard("W_down_shard", layer.down().weight());
      f = layer.forward_steps(comm, x);
    }
    if (dump) {
      dump->add(sim::Dumper::rank_name("intermediate", rank), cu::to_host(f.intermediate), "intermediate", rank);
      dump->add(sim::Dumper::rank_name("activated", rank), cu::to_host(f.activated), "intermediate", rank);
      dump->add(sim::Dumper::rank_name("partial_sums", rank), cu::to_host(f.partial_sum), "intermediate", rank);
      dump->add(sim::Dumper::rank_name("output", rank), cu::to_host(f.output), "output", rank);
      dump->finish();
    }
    if (rank == 0)
      std::printf("Chapter 4 (GPU): %s MLP, p=%d, T=%d, H=%d, I=%d, seed=%llu: ran on %s%s\n",
                  gated ? "SwiGLU" : "GELU", p, T, H, I, static_cast<unsigned long long>(seed),
                  comm.describe().c_str(), dump ? ", tensors dumped" : "");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-ch04-parallel-mlp-gpu (rank %d): %s\n", rank, e.what());
    return 1;
  }
  return 0;
}
