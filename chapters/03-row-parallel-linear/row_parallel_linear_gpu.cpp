/// \file row_parallel_linear_gpu.cpp
/// \brief Chapter 3, GPU half: one rank of p real processes running the
/// row-parallel layer on its shard (partial sum, all-reduce over NCCL, the
/// bias once), dumping the tensors of row_parallel_linear.cpp under the same
/// names so atp-compare can check every bit.
///
/// Run: `atp-launch -p 4 -- atp-ch03-row-parallel-linear-gpu [--tokens 4] [--in 24] [--out 8] [--seed 2026]
///       [--form rank-order|ring|native] [--bias-placement after-reduce|rank0-before-reduce] [--dump DIR]`
///
/// --form rank-order and ring match the simulator's --order of the same name
/// bit for bit; native (ncclAllReduce) matches only for p <= 2.
/// Each rank writes DIR/rank<r>/: x_r, W_r (downloaded from the device),
/// partial and y, each as <name>.rank<r>; rank 0 also writes the global x,
/// W, b and y_dense (the dense layer on rank 0's GPU, atp::cuda::linear).
/// Leaves out: narration, the trace and the experiment (the simulator tells the story).
#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/layers/row_parallel_linear.hpp"
#include "atp/cuda/ops.hpp"
#include "atp/cuda/worker.hpp"
#include "atp/linear_problem.hpp"
#include "atp/rng.hpp"
#include "atp/sim/cli.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/memory_budget.hpp"
#include "atp/sim/sharding.hpp"

#include <cstdio>
#include <memory>
#include <string>

namespace cu = atp::cuda;
namespace sim = atp::sim;
using atp::Matrix;

namespace {

/// This rank's largest host tensors, for sim::require_memory (memory_budget.hpp).
sim::MemoryEstimate memory_needed(int tokens, int in, int out) {
  sim::MemoryEstimate need;
  need.add("W (out, in), its shard and the device round trip", {out, in}, 3);
  need.add("x (T, in), partial sums, y and the dense y (T, out)", {tokens, in + 4 * out});
  return need;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 3, GPU half: one rank of RowParallelLinear (run under atp-launch)."};
  int tp = 0, tokens = 4, in = 24, out = 8;
  std::uint64_t seed = 2026;
  std::string dump_dir, form_name = "rank-order", placement_name = "after-reduce";
  namespace cli = atp::sim::cli;
  cli::add_tp(app, tp, 64, "expected number of ranks p (checked against atp-launch's)", "the p atp-launch started");
  cli::add_integer(app, "--tokens", tokens, 1, 4096, "tokens T (rows of x)");
  cli::add_integer(app, "--in", in, 1, 16384, "input features");
  cli::add_integer(app, "--out", out, 1, 16384, "output features");
  cli::add_seed(app, seed);
  cli::add_choice(app, "--form", form_name, {"rank-order", "ring", "native"}, "all-reduce form");
  cli::add_choice(app, "--bias-placement", placement_name, {"after-reduce", "rank0-before-reduce"},
                  "after-reduce (Megatron-LM) or rank0-before-reduce (vLLM)");
  cli::add_dump(app, dump_dir, "write this rank's tensors into DIR/rank<r>/ (.npy plus manifest.json)");
  if (const auto rc = cli::parse(app, argc, argv)) return *rc;

  int rank = -1;
  try {
    sim::require_memory(memory_needed(tokens, in, out), "this configuration");  // before anything big is built
    const cu::AllReduceForm form = cu::parse_all_reduce_form(form_name);
    const sim::BiasPlacement placement = sim::parse_bias_placement(placement_name);
    cu::Communicator comm = cu::join_world(tp);
    rank = comm.rank();
    const int p = comm.world_size();
    // The same inputs as the CPU chapter (reference/include/atp/linear_problem.hpp).
    const atp::LinearProblem problem = atp::make_linear_problem(tokens, in, out, seed);
    const Matrix& x = problem.x;
    const Matrix& W = problem.W;
    const Matrix& b = problem.b;
    const auto layer = cu::RowParallelLinear::from_master(W, &b, rank, p, {.form = form, .bias_placement = placement});
    // input_is_parallel: this rank holds only its columns of x, as after a column-parallel layer.
    const Matrix x_r = sim::split_cols(x, p)[rank];
    const cu::DeviceMatrix dx_r = cu::to_device(x_r, comm.stream());
    const Matrix partial = cu::to_host(layer.partial_sum(comm, dx_r), comm.stream());
    const Matrix y = cu::to_host(layer.forward(comm, dx_r), comm.stream());

    std::unique_ptr<sim::Dumper> dump;
    if (!dump_dir.empty())
      dump = std::make_unique<sim::Dumper>(cu::rank_dump_dir(dump_dir, rank),
                                           nlohmann::json{{"chapter", 3},
                                                          {"p", p},
                                                          {"tokens", tokens},
                                                          {"in", in},
                                                          {"out", out},
                                                          {"seed", seed},
                                                          {"form", form_name},
                                                          {"bias_placement", placement_name},
                                                          {"side", "gpu"}});
    if (dump) {
      if (rank == 0) {
        const cu::DeviceMatrix dx = cu::to_device(x, comm.stream()), dW = cu::to_device(W, comm.stream()),
                               db = cu::to_device(b, comm.stream());
        const Matrix dense = cu::to_host(cu::linear(dx, dW, &db, comm.stream()), comm.stream());
        dump->add("x", x, "input");
        dump->add("W", W, "weight");
        dump->add("b", b, "weight");
        dump->add("y_dense", dense, "reference");
      }
      dump->add(sim::Dumper::rank_name("x_r", rank), x_r, "input", rank);
      dump->add(sim::Dumper::rank_name("W_r", rank), cu::to_host(layer.weight(), comm.stream()), "weight", rank);
      dump->add(sim::Dumper::rank_name("partial", rank), partial, "intermediate", rank);
      dump->add(sim::Dumper::rank_name("y", rank), y, "output", rank);
      dump->finish();
    }
    if (rank == 0)
      std::printf("Chapter 3 (GPU): p=%d, T=%d, in=%d, out=%d, seed=%llu, %s all-reduce, bias %s: y %s on %s%s\n", p,
                  tokens, in, out, static_cast<unsigned long long>(seed), cu::to_string(form),
                  sim::to_string(placement), atp::shape_string(y).c_str(), comm.describe().c_str(),
                  dump ? ", tensors dumped" : "");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-ch03-row-parallel-linear-gpu (rank %d): %s\n", rank, e.what());
    return 1;
  }
  return 0;
}
