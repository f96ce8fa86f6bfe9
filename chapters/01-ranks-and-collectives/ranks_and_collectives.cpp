/// \file ranks_and_collectives.cpp
/// \brief Chapter 1: p ranks in one process, and the collectives that tie
/// them together: all-reduce in rank order and as a one-channel ring in NCCL's step pattern (step by
/// step), all-gather, reduce-scatter, broadcast, gather; bytes per rank and
/// bus bandwidth.
///
/// Run: `atp-ch01-ranks-and-collectives [--tp 4] [--rows 2] [--cols 8] [--seed 2026] [--narrate] [--dump DIR]`
///
/// Legend: p = ranks, R x C = the matrix each rank holds, N = R*C elements.
/// Leaves out: the GPU half (cuda/ runs the same collectives over NCCL).
#include "atp/rng.hpp"
#include "atp/sim/alpha_beta.hpp"
#include "atp/sim/bandwidth.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/narrate.hpp"
#include "atp/sim/ring_schedule.hpp"
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

/// Rank r's input x_r: (R, C) from stream r of the generator, scaled by 1/3 so
/// that sums of a few values round (raw values sit on a 2^-23 grid, where
/// short sums are often exact and every order would agree).
sim::PerRank<Matrix> make_inputs(int p, int rows, int cols, std::uint64_t seed) {
  return sim::make_per_rank(p, [&](int r) { return atp::random_matrix(rows, cols, seed, r, 1.0f / 3.0f); });
}

/// Section 1-2: the two deterministic all-reduces, and where their bits part.
void all_reduces(sim::World& world, const sim::PerRank<Matrix>& x, sim::Dumper* dump) {
  const int p = world.size();
  std::printf("1. All-reduce in rank order: every element is ((x0 + x1) + x2) + ... on every rank\n\n");
  sim::narrate(world, "what each rank holds before: x_r", x);
  const auto rank_order = sim::all_reduce_rank_order(world, x, "rank_order");
  sim::narrate(world, "after all_reduce_rank_order: every rank holds the same sum", rank_order);

  std::printf("\n2. All-reduce as a one-channel ring in NCCL's step pattern, chunk by chunk\n\n");
  const auto n = static_cast<std::int64_t>(x[0].size());
  std::printf("   The buffer of N=%lld elements is cut into p=%d chunks of up to %lld.\n", static_cast<long long>(n), p,
              static_cast<long long>(sim::ring_chunk_size(p, n)));
  std::printf("   Reduce-scatter: in p-1 steps each rank passes a running sum to its right neighbour,\n"
              "   which adds its own values; chunk c starts at rank c+1 and ends complete on rank c.\n"
              "   All-gather: in p-1 more steps the complete chunks travel once around the ring.\n"
              "   (--narrate prints every transfer: who sends which chunk to whom, at which step.)\n\n");
  const auto ring = sim::all_reduce_ring(world, x, "ring");
  sim::narrate(world, "after all_reduce_ring", ring);

  const auto report = atp::compare_bitwise(ring[0], rank_order[0]);
  std::printf("   ring vs rank order on rank 0: %zu of %zu elements differ in their bits (max %u ulp)\n",
              report.differing, report.count, report.max_ulp);
  std::printf("   %s\n\n", p <= 2 ? "With p <= 2 each element is one addition x0 + x1, so every order agrees."
                                   : "Same inputs, same additions, different association: different bits.");
  if (dump) {
    dump->add_per_rank("all_reduce_rank_order", rank_order, "output");
    dump->add_per_rank("all_reduce_ring", ring, "output");
  }
}

/// Section 3: the collectives that only move bits.
void data_movement(sim::World& world, const sim::PerRank<Matrix>& x, sim::Dumper* dump) {
  const int p = world.size();
  std::printf("3. Collectives that move bits and never round\n\n");
  const auto gathered = sim::all_gather(world, x, sim::Axis::Cols, "all_gather");
  sim::narrate(world, "all_gather along columns: every rank holds [x_0 | x_1 | ...]", gathered);
  std::printf("   all_gather:     every rank gets all p blocks, shape %s\n",
              atp::shape_string(gathered[0]).c_str());
  if (x[0].cols() % p == 0) {
    const auto scattered = sim::reduce_scatter(world, x, sim::Axis::Cols, "reduce_scatter");
    sim::narrate(world, "reduce_scatter along columns: rank r holds block r of the rank-order sum", scattered);
    std::printf("   reduce_scatter: rank r keeps block r of the sum, shape %s\n",
                atp::shape_string(scattered[0]).c_str());
    if (dump) dump->add_per_rank("reduce_scatter", scattered, "output");
  } else {
    std::printf("   reduce_scatter: skipped, %lld columns do not split over p=%d ranks\n",
                static_cast<long long>(x[0].cols()), p);
  }
  const auto bcast = sim::broadcast(world, x, 0, "broadcast");
  sim::narrate(world, "broadcast from rank 0", bcast);
  std::printf("   broadcast:      every rank gets rank 0's matrix\n");
  const auto gathered0 = sim::gather(world, x, 0, sim::Axis::Rows, "gather");
  sim::narrate(world, "gather to rank 0 along rows: only rank 0 holds anything", gathered0);
  std::printf("   gather:         rank 0 gets all blocks stacked, shape %s; the others nothing\n\n",
              atp::shape_string(gathered0[0]).c_str());
  if (dump) {
    dump->add_per_rank("all_gather", gathered, "output");
    dump->add_per_rank("broadcast", bcast, "output");
    dump->add("gather", gathered0[0], "output", 0);
  }
}

/// Section 4: bytes each rank sends, from the trace of real simulated runs.
void bytes_per_rank(int max_p) {
  // 840 = lcm(1..8): the buffer splits evenly for every p in the table.
  const int rows = 8, cols = 840;
  const double message = static_cast<double>(atp::fp32_bytes(rows, cols));
  std::printf("4. Bytes sent per rank for one all-reduce of S = %.0f bytes per rank (from the trace)\n\n", message);
  std::printf("   %3s  %14s  %10s  %18s  %10s\n", "p", "ring bytes", "ring / S", "rank-order bytes", "/ S");
  for (int p = 1; p <= max_p; ++p) {
    sim::World world(p);
    const auto x = make_inputs(p, rows, cols, 7);
    sim::all_reduce_ring(world, x, "ring");
    sim::all_reduce_rank_order(world, x, "rank_order");
    const auto ring = world.trace().bytes_sent(0, sim::ops::kAllReduceRing);
    const auto ordered = world.trace().bytes_sent(0, sim::ops::kAllReduceRankOrder);
    std::printf("   %3d  %14lld  %10.4f  %18lld  %10.4f\n", p, static_cast<long long>(ring), ring / message,
                static_cast<long long>(ordered), ordered / message);
  }
  std::printf("\n   The ring sends 2(p-1)/p * S per rank: it approaches 2S and never exceeds it. The\n"
              "   rank-order form gathers everything, (p-1) * S. Bytes are half the story: the ring\n"
              "   needs 2(p-1) steps one after another, the rank-order form one (section 6).\n\n");
}

/// Section 5: the bus-bandwidth formula of nccl-tests, on a worked example.
void bus_bandwidth(int p) {
  std::printf("5. Bus bandwidth, as nccl-tests reports it\n\n");
  std::printf("   algbw = S / t;  busbw = algbw * factor, factor = 2(p-1)/p for all-reduce,\n"
              "   (p-1)/p for all-gather and reduce-scatter, 1 for broadcast.\n");
  const double bytes = 256.0 * 1024 * 1024, seconds = 2.0e-3;  // an illustrative timing, not a measurement
  std::printf("   Example: an all-reduce of 256 MiB that took 2.0 ms on p=%d ranks:\n", p);
  std::printf("     algbw = %.1f GB/s, busbw = %.1f GB/s (factor %.4f)\n\n",
              sim::algorithm_bandwidth(bytes, seconds) / 1e9,
              sim::bus_bandwidth(sim::CollectiveKind::AllReduce, p, bytes, seconds) / 1e9,
              sim::bus_bandwidth_factor(sim::CollectiveKind::AllReduce, p));
}

/// Section 6: time, from the alpha-beta model (alpha_beta.hpp) and the published figures it cites.
void time_model() {
  const sim::LinkProfile& link = sim::link_profile("nvlink4");
  std::printf("6. Time: latency + bandwidth (the alpha-beta model, simulator/include/atp/sim/alpha_beta.hpp)\n\n");
  std::printf("   time = alpha0 + steps * alpha + bytes through each rank's link / B\n"
              "   ring: 2(p-1) steps, 2(p-1)/p S;  one-shot (rank order): 1 step, (p-1) S;\n"
              "   two-shot: 2 steps, 2(p-1)/p S;  tree (binomial): 2 ceil(log2 p) steps of S each.\n\n");
  std::printf("   Link %s (%s):\n     B = %.0f GB/s   [%s]\n     alpha = %.1f us  [%s]\n     alpha0 = %.1f us [%s]\n\n",
              link.name.c_str(), link.description.c_str(), link.bandwidth_GBps.value,
              link.bandwidth_GBps.source.c_str(), link.step_latency_us.value, link.step_latency_us.source.c_str(),
              link.launch_latency_us.value, link.launch_latency_us.source.c_str());
  for (int p : {2, 4, 8}) {
    std::printf("   p=%d  %10s  %10s  %10s  %10s  %10s   %s\n", p, "S (bytes)", "ring us", "one-shot us",
                "two-shot us", "tree us", "fastest");
    for (double S = 256.0; S <= 256.0 * 1024 * 1024; S *= 4.0) {
      std::printf("   p=%d  %10.0f", p, S);
      double best = 0.0;
      const char* winner = "";
      for (sim::AllReduceForm f : sim::all_reduce_forms()) {
        const double t = sim::all_reduce_time(f, p, S, link).total_s();
        std::printf("  %10.2f", t * 1e6);
        if (winner[0] == '\0' || t < best) best = t, winner = sim::to_string(f);
      }
      std::printf("   %s\n", winner);
    }
    std::printf("\n");
  }
  std::printf("   Message sizes where two forms cost the same (below it one-shot wins), per link:\n"
              "     %-8s  %16s  %16s  %16s  %16s\n", "link", "vs ring, p=4", "vs ring, p=8", "vs two-shot, p=4",
              "vs two-shot, p=8");
  using F = sim::AllReduceForm;
  for (const auto& l : sim::link_profiles())
    std::printf("     %-8s  %16.0f  %16.0f  %16.0f  %16.0f\n", l.name.c_str(),
                sim::crossover_bytes(F::OneShot, F::Ring, 4, l), sim::crossover_bytes(F::OneShot, F::Ring, 8, l),
                sim::crossover_bytes(F::OneShot, F::TwoShot, 4, l), sim::crossover_bytes(F::OneShot, F::TwoShot, 8, l));
  std::printf("\n   A decode step's all-reduce carries T x H values: 1 token x 8192 x 2 bytes (bf16) = 16384 bytes,\n"
              "   far left of every crossover: latency-bound, where the one-shot rank order is the fast form.\n"
              "   With every GPU wired to every other (NVSwitch), two-shot moves the ring's bytes in 2 steps\n"
              "   instead of 2(p-1); the ring's case is a topology of neighbour links only, and pipelining.\n"
              "   A model, not a measurement: no channels, protocols, contention or kernel time.\n\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 1: ranks and collectives, on p simulated ranks."};
  int tp = 4, rows = 2, cols = 8;
  std::uint64_t seed = 2026;
  bool narrate = false;
  std::string dump_dir;
  app.add_option("--tp", tp, "number of ranks p")->check(CLI::Range(1, 64));
  app.add_option("--rows", rows, "rows R of each rank's matrix")->check(CLI::Range(1, 4096));
  app.add_option("--cols", cols, "columns C of each rank's matrix")->check(CLI::Range(1, 4096));
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_flag("--narrate", narrate, "print what every rank holds at every step");
  app.add_option("--dump", dump_dir, "write every tensor as .npy plus manifest.json into this folder");
  CLI11_PARSE(app, argc, argv);

  try {
    std::printf("Chapter 1: ranks and collectives (p=%d, each rank holds %s, seed=%llu)\n\n", tp,
                atp::shape_string(rows, cols).c_str(), static_cast<unsigned long long>(seed));
    sim::World world(tp);
    if (narrate) world.narrate_to(std::cout);
    std::unique_ptr<sim::Dumper> dump;
    if (!dump_dir.empty())
      dump = std::make_unique<sim::Dumper>(
          dump_dir, nlohmann::json{{"chapter", 1}, {"p", tp}, {"rows", rows}, {"cols", cols}, {"seed", seed},
                                   {"strategy", "all_reduce rank_order and ring; all_gather, reduce_scatter "
                                                "along cols; broadcast and gather to root 0 (gather along rows)"}});
    const auto x = make_inputs(tp, rows, cols, seed);
    if (dump) dump->add_per_rank("x", x, "input");
    all_reduces(world, x, dump.get());
    data_movement(world, x, dump.get());
    std::printf("The trace of this run (bytes and adds, per op and per rank):\n\n%s\n", world.trace().summary().c_str());
    bytes_per_rank(8);
    bus_bandwidth(tp);
    time_model();
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
