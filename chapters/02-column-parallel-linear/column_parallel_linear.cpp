/// \file column_parallel_linear.cpp
/// \brief Chapter 2: a linear layer split by output features across p
/// simulated ranks (ColumnParallelLinear), and why its output is bitwise
/// equal to the dense layer's.
///
/// Run: `atp-ch02-column-parallel-linear [--tp 4] [--tokens 4] [--in 12] [--out 24] [--seed 2026]
///       [--gather-output] [--narrate] [--dump DIR]`
///
/// Legend: T = tokens, in = input features, out = output features, p = ranks.
/// Storage as nn.Linear: y = x W^T + b, W (out, in), x (T, in), b (1, out).
///
/// Tensors (--dump; the GPU worker writes the same names):
///
///     x              (T, in)       input, the same on every rank
///     W              (out, in)     master weight
///     b              (1, out)      master bias
///     y_dense        (T, out)      atp::linear(x, W, b): the single-device layer
///     W_r.rank<r>    (out/p, in)   rank r's shard: rows [r*out/p, (r+1)*out/p) of W
///     b_r.rank<r>    (1, out/p)    the same columns of b
///     y.rank<r>      (T, out/p)    x W_r^T + b_r; (T, out) with --gather-output
///
/// Leaves out: the GPU half (column_parallel_linear_gpu.cpp), the backward pass.
#include "atp/linear_problem.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/layers/column_parallel_linear.hpp"
#include "atp/sim/narrate.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"
#include "atp/ulp.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

namespace sim = atp::sim;
using atp::Matrix;

namespace {

/// The layer's inputs (reference/include/atp/linear_problem.hpp); the GPU worker makes the same.
using Problem = atp::LinearProblem;

Problem make_problem(int tokens, int in, int out, std::uint64_t seed) {
  return atp::make_linear_problem(tokens, in, out, seed);
}

void print_split(int p, int tokens, int in, int out) {
  const int n = out / p;
  std::printf("1. The split: W (%d, %d) by output rows, %d rows per rank\n\n", out, in, n);
  std::printf("        W (out=%d, in=%d)                 rank r computes (T=%d tokens)\n", out, in, tokens);
  for (int r = 0; r < p; ++r)
    std::printf("      | W_%-2d rows [%3d, %3d) |   -->   y_%-2d = x W_%d^T + b_%d   (%d, %d)\n", r, r * n, (r + 1) * n,
                r, r, r, tokens, n);
  std::printf(
      "\n   x (%d, %d) is the same on every rank: Megatron's f (\"copy to tensor-parallel region\")\n"
      "   is the identity in the forward pass. No rank needs another rank's data.\n"
      "   (Megatron-LM and vLLM write the layer as Y = XA + b with A = W^T, (in, out): splitting A by\n"
      "   columns is splitting W by rows, hence \"column-parallel\" for a layer that keeps rows of W.)\n\n",
      tokens, in);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 2: ColumnParallelLinear, a linear layer split by output features, on p simulated ranks."};
  int tp = 4, tokens = 4, in = 12, out = 24;
  std::uint64_t seed = 2026;
  bool narrate = false, gather_output = false;
  std::string dump_dir;
  app.add_option("--tp", tp, "number of ranks p (must divide --out)")->check(CLI::Range(1, 64));
  app.add_option("--tokens", tokens, "tokens T (rows of x)")->check(CLI::Range(1, 4096));
  app.add_option("--in", in, "input features")->check(CLI::Range(1, 16384));
  app.add_option("--out", out, "output features")->check(CLI::Range(1, 16384));
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_flag("--gather-output", gather_output, "all-gather the outputs so every rank holds (T, out)");
  app.add_flag("--narrate", narrate, "print what every rank holds at every step");
  app.add_option("--dump", dump_dir, "write every tensor as .npy plus manifest.json into this folder");
  CLI11_PARSE(app, argc, argv);

  try {
    std::printf("Chapter 2: ColumnParallelLinear (p=%d, T=%d, in=%d, out=%d, seed=%llu%s)\n\n", tp, tokens, in, out,
                static_cast<unsigned long long>(seed), gather_output ? ", gather_output" : "");
    const Problem pr = make_problem(tokens, in, out, seed);
    const auto layer = sim::ColumnParallelLinear::from_master(pr.W, &pr.b, tp, {.gather_output = gather_output});
    sim::World world(tp);
    if (narrate) world.narrate_to(std::cout);
    std::unique_ptr<sim::Dumper> dump;
    if (!dump_dir.empty())
      dump = std::make_unique<sim::Dumper>(dump_dir, nlohmann::json{{"chapter", 2},
                                                                    {"p", tp},
                                                                    {"tokens", tokens},
                                                                    {"in", in},
                                                                    {"out", out},
                                                                    {"seed", seed},
                                                                    {"gather_output", gather_output},
                                                                    {"side", "cpu"}});

    print_split(tp, tokens, in, out);
    sim::narrate(world, "x: the input, the same on every rank", sim::replicate(pr.x, tp));
    sim::narrate(world, "W_r: rank r's rows of W", layer.weight());
    sim::narrate(world, "b_r: rank r's columns of b", layer.bias());

    std::printf("%s2. Forward: each rank runs the whole dot product over in=%d for its %d outputs\n\n",
                narrate ? "\n" : "", in, out / tp);
    const auto y = layer.forward(world, sim::replicate(pr.x, tp), "fc");
    sim::narrate(world,
                 gather_output ? "y after the all-gather: every rank holds [y_0 | y_1 | ...]" : "y_r on each rank", y);
    const Matrix dense = atp::linear(pr.x, pr.W, &pr.b);
    bool all_equal = true;
    for (int r = 0; r < tp; ++r) {
      const int n = out / tp;
      const Matrix want = gather_output ? dense : Matrix(dense.middleCols(r * n, n));
      const auto report = atp::compare_bitwise(y[r], want);
      all_equal = all_equal && report.equal();
      if (gather_output)
        std::printf("   rank %d: y %s vs the dense y: %zu of %zu elements differ in their bits\n", r,
                    atp::shape_string(y[r]).c_str(), report.differing, report.count);
      else
        std::printf(
            "   rank %d: y_%d %s vs columns [%d, %d) of the dense y: %zu of %zu elements differ in their bits\n", r, r,
            atp::shape_string(y[r]).c_str(), r * n, (r + 1) * n, report.differing, report.count);
    }
    std::printf(
        "\n   %s Each output element is one dot product, acc = fma(x[k], w[k], acc) for k = 0..%d,\n"
        "   then + b once, on one rank, in the same order as the dense layer: nothing to reorder.\n\n",
        all_equal ? "Bitwise equal to the dense layer." : "MISMATCH: this should never happen.", in - 1);

    std::printf("3. What it cost (from the trace)\n\n%s\n", world.trace().summary().c_str());
    std::printf("   %s\n\n", gather_output
                                 ? "One all_gather along columns: each rank sends its (T, out/p) block p-1 times."
                                 : "No collective at all: the outputs stay split, ready for a row-parallel layer.");
    layer.account_memory(world, "fc");
    std::printf("4. Weight bytes per rank (dense layer: %lld bytes)\n\n%s\n",
                static_cast<long long>(atp::fp32_bytes(out, in) + atp::fp32_bytes(1, out)),
                world.memory().table().c_str());
    if (dump) {
      dump->add("x", pr.x, "input");
      dump->add("W", pr.W, "weight");
      dump->add("b", pr.b, "weight");
      dump->add("y_dense", dense, "reference");
      dump->add_per_rank("W_r", layer.weight(), "weight");
      dump->add_per_rank("b_r", layer.bias(), "weight");
      dump->add_per_rank("y", y, "output");
      dump->finish();
      std::printf("Wrote the dump to %s\n", dump_dir.c_str());
    }
    return all_equal ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
