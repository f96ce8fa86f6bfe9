/// \file parallel_mlp.cpp
/// \brief Chapter 4: the tensor-parallel MLP on p simulated ranks. Column-parallel
/// up projection, the activation on each rank's slice, row-parallel down
/// projection: one all-reduce per MLP, read from the trace. Then what goes
/// wrong the other way round, memory per rank, and (with --mlp swiglu) why
/// gate and up must be sharded identically.
///
/// Run: `atp-ch04-parallel-mlp [--tp 4] [--tokens 4] [--hidden 24] [--intermediate 96]
///       [--mlp gelu|swiglu] [--gelu tanh|erf] [--seed 2026] [--narrate] [--dump DIR]`
///
/// Legend: T = tokens, H = hidden, I = intermediate, p = ranks.
/// Dumped tensors (the GPU worker writes the same names, except the CPU-only
/// dense_intermediate and dense_output):
///
///     x (T, H); W_up (I, H), b_up (1, I), W_down (H, I), b_down (1, H) [gelu];
///     W_gate, W_up (I, H), W_down (H, I) [swiglu]                        masters
///     W_up_shard.rank<r> (I/p, H), b_up_shard.rank<r> (1, I/p) [gelu];
///     W_gate_up_shard.rank<r> (2I/p, H) [swiglu]; W_down_shard.rank<r> (H, I/p)  shards
///     intermediate.rank<r> (T, I/p) [gelu] or (T, 2I/p) = [g_r | u_r] [swiglu]
///     activated.rank<r> (T, I/p), partial_sums.rank<r> (T, H), output.rank<r> (T, H)
///     dense_intermediate (T, I) or (T, 2I) = [G | U], dense_output (T, H): one fp32 device
///
/// Leaves out: the GPU half (parallel_mlp_gpu.cpp), the backward pass.
#include "block_time.hpp"
#include "mlp_masters.hpp"

#include "atp/activations.hpp"
#include "atp/dense_reference.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/layers/column_parallel_linear.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/layers/tp_divide.hpp"
#include "atp/sim/narrate.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"
#include "atp/ulp.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

namespace sim = atp::sim;
using atp::Matrix;
using atp::MatrixD;

namespace {

/// Everything a section needs about the run.
struct Run {
  int p = 4;
  int T = 4, H = 24, I = 96;
  bool gated = false;
  atp::GeluForm gelu = atp::GeluForm::Tanh;
  atp::ch04::MlpMasters m;
};

/// The dense epilogue on a full pre-activation: gelu(h) (T, I), or swiglu([G | U]) (T, I).
Matrix epilogue(const Run& run, const Matrix& pre) { return run.gated ? sim::swiglu(pre) : sim::gelu(run.gelu, pre); }

/// The dense fp32 MLP on one device, the canonical fma order: returns the pre-activation, sets `out`.
Matrix dense_fp32(const Run& run, Matrix& out) {
  Matrix pre;
  if (run.gated) {
    const Matrix G = atp::linear(run.m.x, run.m.W_gate, nullptr), U = atp::linear(run.m.x, run.m.W_up, nullptr);
    pre.resize(G.rows(), 2 * G.cols());
    pre << G, U;
    out = atp::linear(epilogue(run, pre), run.m.W_down, nullptr);
  } else {
    pre = atp::linear(run.m.x, run.m.W_up, &run.m.b_up);
    out = atp::linear(epilogue(run, pre), run.m.W_down, &run.m.b_down);
  }
  return pre;
}

/// The dense float64 MLP: the reference for tolerances. Returns y; sets `act` to the activated intermediate.
MatrixD dense_fp64(const Run& run, MatrixD& act) {
  const MatrixD x = atp::to_double(run.m.x), W_down = atp::to_double(run.m.W_down);
  if (run.gated) {
    const MatrixD g = atp::linear_ref(x, atp::to_double(run.m.W_gate), nullptr);
    const MatrixD u = atp::linear_ref(x, atp::to_double(run.m.W_up), nullptr);
    act = atp::silu_ref(g).cwiseProduct(u);
    return atp::linear_ref(act, W_down, nullptr);
  }
  const MatrixD b_up = atp::to_double(run.m.b_up), b_down = atp::to_double(run.m.b_down);
  const MatrixD h = atp::linear_ref(x, atp::to_double(run.m.W_up), &b_up);
  act = run.gelu == atp::GeluForm::Tanh ? atp::gelu_tanh_ref(h) : atp::gelu_erf_ref(h);
  return atp::linear_ref(act, W_down, &b_down);
}

/// Section 1: what each rank holds.
void print_split(const Run& run) {
  const int p = run.p, c = run.I / p;
  std::printf("1. The split (T=%d tokens, H=%d, I=%d, p=%d)\n\n", run.T, run.H, run.I, p);
  if (run.gated) {
    std::printf("   gate_up (MergedColumnParallelLinear): rank r holds rows [r*I/p, (r+1)*I/p) of W_gate\n"
                "   AND the same rows of W_up, stacked: (2I/p, H) = (%d, %d)\n", 2 * c, run.H);
  } else {
    std::printf("   up (ColumnParallelLinear): rank r holds rows [r*I/p, (r+1)*I/p) of W_up (I, H)\n"
                "   and the same entries of b_up: W_up_r (%d, %d), b_up_r (1, %d)\n", c, run.H, c);
  }
  std::printf("   down (RowParallelLinear, input_is_parallel): rank r holds cols [r*I/p, (r+1)*I/p)\n"
              "   of W_down (H, I): W_down_r (%d, %d)%s\n\n", run.H, c,
              run.gated ? "" : "; b_down (1, H) whole, added once after the all-reduce");
  for (int r = 0; r < p; ++r)
    std::printf("   rank %d: intermediate features [%d, %d)\n", r, r * c, (r + 1) * c);
  std::printf("\n");
}

/// Section 2-4: the forward pass, its trace, and its accuracy. Returns the forward's tensors.
sim::MLPForward forward_and_check(const Run& run, sim::World& world, sim::Dumper* dump) {
  const auto x = sim::replicate(run.m.x, run.p);
  std::printf("2. The forward pass: up, activation on each rank's slice, down, all-reduce%s\n\n",
              world.narrator() ? "" : " (--narrate prints every rank's tensors)");
  sim::MLPForward f;
  sim::ParallelMLPOptions opts;
  opts.gelu = run.gelu;
  if (run.gated) {
    const auto mlp = sim::ParallelGatedMLP::from_master(run.m.W_gate, run.m.W_up, run.m.W_down, run.p, opts);
    f = mlp.forward_steps(world, x, "mlp");
    mlp.account_memory(world, "mlp");
    if (dump) {
      dump->add_per_rank("W_gate_up_shard", mlp.gate_up().weight(), "weight_shard");
      dump->add_per_rank("W_down_shard", mlp.down().weight(), "weight_shard");
    }
  } else {
    const auto mlp = sim::ParallelMLP::from_master(run.m.W_up, run.m.b_up, run.m.W_down, run.m.b_down, run.p, opts);
    f = mlp.forward_steps(world, x, "mlp");
    mlp.account_memory(world, "mlp");
    if (dump) {
      dump->add_per_rank("W_up_shard", mlp.up().weight(), "weight_shard");
      dump->add_per_rank("b_up_shard", mlp.up().bias(), "weight_shard");
      dump->add_per_rank("W_down_shard", mlp.down().weight(), "weight_shard");
    }
  }

  std::printf("3. The trace: which operations ran, in order (rank 0's events)\n\n");
  int between = 0;
  bool seen_down = false;
  for (const auto& e : world.trace().events()) {
    if (e.rank != 0) continue;
    std::printf("   %-22s %-24s in %-10s out %s\n", e.op.c_str(), e.label.c_str(),
                atp::shape_string(e.shape_in[0], e.shape_in[1]).c_str(),
                atp::shape_string(e.shape_out[0], e.shape_out[1]).c_str());
    if (e.label.rfind("mlp.down", 0) == 0) seen_down = true;
    if (!seen_down && e.op != sim::kMatmulOp) ++between;
  }
  const auto reduces =
      world.trace().count(sim::ops::kAllReduceRankOrder) + world.trace().count(sim::ops::kAllReduceRing);
  std::printf("\n   all-reduces per MLP forward: %lld; collectives between up and down: %d\n",
              static_cast<long long>(reduces), between);
  std::printf("   bytes each rank sends: %lld (its (T, H) = %s partial sum, to each of the p-1 = %d other ranks:\n"
              "   the rank-order all-reduce gathers every input; NCCL's ring would send 2(p-1)/p of it)\n\n",
              static_cast<long long>(world.trace().bytes_sent(0)), atp::shape_string(run.T, run.H).c_str(),
              run.p - 1);

  std::printf("4. Against the dense MLP on one device\n\n");
  Matrix dense_out;
  const Matrix dense_pre = dense_fp32(run, dense_out);
  Matrix pre_joined;
  if (run.gated) {  // [g_0 | u_0], [g_1 | u_1], ... back to [G | U]
    const int c = run.I / run.p;
    pre_joined.resize(run.T, 2 * run.I);
    for (int r = 0; r < run.p; ++r) {
      pre_joined.middleCols(r * c, c) = f.intermediate[r].leftCols(c);
      pre_joined.middleCols(run.I + r * c, c) = f.intermediate[r].rightCols(c);
    }
  } else {
    pre_joined = sim::concat_cols(f.intermediate);
  }
  const auto pre_cmp = atp::compare_bitwise(pre_joined, dense_pre);
  const auto out_cmp = atp::compare_bitwise(f.output[0], dense_out);
  std::printf("   intermediate, rank slices side by side vs dense fp32: %s\n",
              pre_cmp.equal() ? "bitwise equal (each element is one whole dot product on one rank)"
                              : pre_cmp.describe("intermediate").c_str());
  std::printf("   output vs dense fp32: %zu of %zu elements differ in their bits (max %u ulp, max abs %.3g)%s\n",
              out_cmp.differing, out_cmp.count, out_cmp.max_ulp, (f.output[0] - dense_out).cwiseAbs().maxCoeff(),
              run.p == 1 ? " (p = 1: the same fma chain)" : " (the down projection's dots are cut into p pieces)");
  MatrixD act_ref;
  const MatrixD y_ref = dense_fp64(run, act_ref);
  std::printf("   vs the float64 reference: activated max abs error %.3g, output max abs error %.3g (max |y| %.3g)\n",
              atp::max_abs_error(sim::concat_cols(f.activated), act_ref), atp::max_abs_error(f.output[0], y_ref),
              y_ref.cwiseAbs().maxCoeff());
  bool same = true;
  for (int r = 1; r < run.p; ++r) same = same && atp::compare_bitwise(f.output[r], f.output[0]).equal();
  std::printf("   every rank holds the same output bits: %s\n\n", same ? "yes" : "NO");
  if (dump) {
    dump->add("dense_intermediate", dense_pre, "reference");
    dump->add("dense_output", dense_out, "reference");
  }
  return f;
}

/// Section 5: the other order. Row-parallel up, so each rank holds a partial
/// sum of the WHOLE intermediate; the nonlinearity cannot run on partial sums.
void other_way_round(const Run& run) {
  const int p = run.p;
  std::printf("5. The other way round: row-parallel up, column-parallel down\n\n");
  if (run.H % p != 0) {
    std::printf("   (skipped: H = %d does not split over p = %d; try --tp %s)\n\n", run.H, p,
                sim::valid_tp_list(run.H).c_str());
    return;
  }
  // Up projection split by input features: rank r holds x_r = cols r of x and W_r = cols r of W.
  Matrix W_pre = run.m.W_up, b_pre = run.m.b_up;
  if (run.gated) {  // dense [G | U] = x [W_gate; W_up]^T
    W_pre.resize(2 * run.I, run.H);
    W_pre << run.m.W_gate, run.m.W_up;
  }
  const auto x_r = sim::split_cols(run.m.x, p);
  const auto W_r = sim::split_cols(W_pre, p);
  sim::World world(p);
  const auto partial = sim::make_per_rank(p, [&](int r) -> Matrix {
    Matrix y = atp::linear(x_r[r], W_r[r], nullptr);  // (T, I): every intermediate feature, partly summed
    if (!run.gated && r == 0) y = sim::add_bias_rows(y, b_pre);  // the bias once, on rank 0
    return y;
  });
  Matrix wrong = epilogue(run, partial[0]);
  for (int r = 1; r < p; ++r) wrong = wrong + epilogue(run, partial[r]);
  const Matrix right = epilogue(run, sim::rank_order_sum(partial));
  std::printf("   Each rank now holds a (T, %s) partial sum of every intermediate feature.\n"
              "   Applying the activation to the pieces and adding afterwards:\n"
              "     max |sum_r act(h_r) - act(sum_r h_r)| = %.4f   (max |act(h)| = %.4f)\n",
              run.gated ? "2I" : "I", (wrong - right).cwiseAbs().maxCoeff(), right.cwiseAbs().maxCoeff());
  const char* why = p == 1      ? "(p = 1: one piece, nothing to get wrong)"
                    : run.gated ? "silu(g + g') (u + u') != silu(g) u + silu(g') u': the gate needs complete sums."
                                : "gelu(a + b) != gelu(a) + gelu(b): the activation needs the complete sum.";
  std::printf("   %s\n", why);
  // Done correctly: all-reduce the (T, I) pre-activations, activate, column-parallel down, all-gather.
  const auto h = sim::all_reduce_rank_order(world, partial, "up.all_reduce");
  const auto a = sim::make_per_rank(p, [&](int r) -> Matrix { return epilogue(run, h[r]); });
  sim::ColumnParallelOptions gather;
  gather.gather_output = true;
  const Matrix* b_down = run.gated ? nullptr : &run.m.b_down;
  const auto down = sim::ColumnParallelLinear::from_master(run.m.W_down, b_down, p, gather);
  down.forward(world, a, "down");
  const auto n_coll = world.trace().count(sim::ops::kAllReduceRankOrder) + world.trace().count(sim::ops::kAllGather);
  std::printf("   Done right, it costs %lld collectives per MLP (an all-reduce of (T, %s) before the activation,\n"
              "   an all-gather of (T, H) after the down projection): rank 0 sends %lld bytes,\n"
              "   against %lld bytes in ONE all-reduce of (T, H) for column-then-row.\n\n",
              static_cast<long long>(n_coll), run.gated ? "2I" : "I",
              static_cast<long long>(world.trace().bytes_sent(0)),
              static_cast<long long>([&] {
                sim::World w(p);
                sim::all_reduce_rank_order(w, sim::replicate(Matrix::Zero(run.T, run.H), p), "y");
                return w.trace().bytes_sent(0);
              }()));
}

/// Section 6: weight bytes per rank, from the ledger.
void memory_per_rank(const Run& run, const sim::World& world) {
  std::printf("6. Weight memory per rank (from the memory ledger)\n\n");
  std::int64_t dense = atp::fp32_bytes(run.I, run.H) + atp::fp32_bytes(run.H, run.I);
  if (run.gated)
    dense += atp::fp32_bytes(run.I, run.H);
  else
    dense += atp::fp32_bytes(1, run.I) + atp::fp32_bytes(1, run.H);
  for (int r = 0; r < run.p; ++r)
    std::printf("   rank %d: %8lld bytes of weights\n", r,
                static_cast<long long>(world.memory().bytes(r, sim::MemoryKind::Weight)));
  const auto replicated = run.gated ? 0 : atp::fp32_bytes(1, run.H);
  std::printf("   dense MLP: %lld bytes of weights; sharded part / p = %.1f bytes per rank\n",
              static_cast<long long>(dense), static_cast<double>(dense - replicated) / run.p);
  if (!run.gated)
    std::printf("   plus b_down (%lld bytes), which every rank keeps whole: it is added once, after the all-reduce.\n",
                static_cast<long long>(replicated));
  std::printf("\n");
}

/// Section 7 (swiglu): why the merged weight pairs rows r of gate with rows r of up.
void gate_up_pairing(const Run& run) {
  const int p = run.p, c = run.I / p;
  std::printf("7. Gate and up must be sharded identically\n\n");
  std::printf("   silu(g) * u pairs intermediate feature j of the gate with feature j of up. Rank r's\n"
              "   merged shard is [W_gate rows [%d r, %d (r+1)); W_up the same rows], so its output\n"
              "   [g_r | u_r] pairs column j with column %d + j, all on one rank.\n", c, c, c);
  if (p == 1) {
    std::printf("   (p = 1: nothing is split.)\n\n");
    return;
  }
  // The tempting mistake: cut the stacked (2I, H) master [W_gate; W_up] into p plain row blocks.
  Matrix stacked(2 * run.I, run.H);
  stacked << run.m.W_gate, run.m.W_up;
  const auto naive = sim::split_rows(stacked, p);
  const int rows = 2 * c;
  std::printf("   Splitting the stacked [W_gate; W_up] (2I, H) into p plain row blocks instead gives\n");
  for (int r = 0; r < p; ++r) {
    const int lo = r * rows, hi = lo + rows;
    std::printf("     rank %d: stacked rows [%d, %d) = %s\n", r, lo, hi,
                hi <= run.I   ? "gate rows only"
                : lo >= run.I ? "up rows only"
                              : "gate and up rows of DIFFERENT features");
  }
  float err = 0.0f;
  for (int r = 0; r < p; ++r) {
    const Matrix got = sim::swiglu(atp::linear(run.m.x, naive[r], nullptr));
    Matrix gu(run.T, 2 * c);
    gu << atp::linear(run.m.x, run.m.W_gate.middleRows(r * c, c), nullptr),
        atp::linear(run.m.x, run.m.W_up.middleRows(r * c, c), nullptr);
    err = std::max(err, (got - sim::swiglu(gu)).cwiseAbs().maxCoeff());
  }
  std::printf("   and silu(first half) * (second half) on such a shard is wrong by up to %.4f.\n\n", err);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 4: the tensor-parallel MLP (GELU or SwiGLU) on p simulated ranks."};
  Run run;
  std::uint64_t seed = 2026;
  bool narrate = false;
  std::string dump_dir, mlp = "gelu", gelu = "tanh";
  app.add_option("--tp", run.p, "number of ranks p")->check(CLI::Range(1, 64));
  app.add_option("--tokens", run.T, "tokens T")->check(CLI::Range(1, 4096));
  app.add_option("--hidden", run.H, "hidden size H")->check(CLI::Range(1, 8192));
  app.add_option("--intermediate", run.I, "intermediate size I (p must divide it)")->check(CLI::Range(1, 32768));
  app.add_option("--mlp", mlp, "gelu (ViT, CLIP, GPT) or swiglu (Llama)")->check(CLI::IsMember({"gelu", "swiglu"}));
  app.add_option("--gelu", gelu, "GELU form: tanh or erf")->check(CLI::IsMember({"tanh", "erf"}));
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_flag("--narrate", narrate, "print what every rank holds at every step");
  app.add_option("--dump", dump_dir, "write every tensor as .npy plus manifest.json into this folder");
  CLI11_PARSE(app, argc, argv);

  try {
    run.gated = mlp == "swiglu";
    run.gelu = atp::parse_gelu_form(gelu);
    sim::tp_divide(run.I, run.p, "intermediate size");
    std::printf("Chapter 4: the parallel MLP (%s, p=%d, T=%d, H=%d, I=%d, seed=%llu)\n\n",
                run.gated ? "SwiGLU, gate and up merged" : (std::string("GELU, ") + gelu + " form").c_str(), run.p,
                run.T, run.H, run.I, static_cast<unsigned long long>(seed));
    run.m = atp::ch04::make_mlp_masters(run.T, run.H, run.I, seed);
    std::unique_ptr<sim::Dumper> dump;
    if (!dump_dir.empty()) {
      dump = std::make_unique<sim::Dumper>(
          dump_dir, nlohmann::json{{"chapter", 4}, {"p", run.p}, {"tokens", run.T}, {"hidden", run.H},
                                   {"intermediate", run.I}, {"seed", seed}, {"mlp", mlp}, {"gelu", gelu}});
      dump->add("x", run.m.x, "input");
      if (run.gated) dump->add("W_gate", run.m.W_gate, "weight");
      dump->add("W_up", run.m.W_up, "weight");
      if (!run.gated) dump->add("b_up", run.m.b_up, "weight");
      dump->add("W_down", run.m.W_down, "weight");
      if (!run.gated) dump->add("b_down", run.m.b_down, "weight");
    }
    sim::World world(run.p);
    if (narrate) world.narrate_to(std::cout);
    print_split(run);
    const auto f = forward_and_check(run, world, dump.get());
    if (dump) {
      dump->add_per_rank("intermediate", f.intermediate, "intermediate");
      dump->add_per_rank("activated", f.activated, "intermediate");
      dump->add_per_rank("partial_sums", f.partial_sums, "intermediate");
      dump->add_per_rank("output", f.output, "output");
    }
    other_way_round(run);
    memory_per_rank(run, world);
    if (run.gated) gate_up_pairing(run);
    atp::ch04::print_block_time();
    if (dump) {
      dump->finish();
      std::printf("Wrote the dump to %s\n", dump_dir.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
