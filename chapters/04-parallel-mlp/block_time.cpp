/// \file block_time.cpp
/// \brief Chapter 4, section 8: time per block and rank (see block_time.hpp).
#include "block_time.hpp"

#include "atp/sim/alpha_beta.hpp"

#include <algorithm>
#include <cstdio>

namespace atp::ch04 {

namespace {

namespace sim = atp::sim;

/// The fastest all-reduce form the model knows for this message.
double best_all_reduce(int p, double bytes, const sim::LinkProfile& link) {
  double best = sim::all_reduce_time(sim::AllReduceForm::Ring, p, bytes, link).total_s();
  for (sim::AllReduceForm f : sim::all_reduce_forms())
    best = std::min(best, sim::all_reduce_time(f, p, bytes, link).total_s());
  return best;
}

}  // namespace

void print_block_time() {
  const double H = 8192, b = 2, P_blk = 12.0 * H * H;
  const sim::GpuProfile& gpu = sim::gpu_profile("h100-sxm");
  const sim::LinkProfile& nvlink = sim::link_profile("nvlink4");
  const sim::LinkProfile& ib = sim::link_profile("ib-ndr");
  std::printf("8. Time per block and rank: communication against compute\n\n");
  std::printf("   A block all-reduces twice (attention, MLP), each a (T, H) message; the ring moves\n"
              "   2(p-1)/p T H b bytes per rank each time: 4(p-1)/p T H b per block. Its weights\n"
              "   (P_blk = 12 H^2) cost 2 T P_blk / p flops per rank.\n\n");
  std::printf("   Prefill (many tokens, compute-bound): comm / compute = [4(p-1)/p T H b / B] / [2 T 12 H^2 / (p F)]\n"
              "                                                        = (p-1) b F / (6 H B): T cancels.\n");
  std::printf("   H = %.0f, bf16 (b = 2), F = %.0f TFLOP/s (%s), links %s (B = %.0f GB/s) and %s (B = %.0f GB/s):\n\n",
              H, gpu.bf16_dense_TFLOPS.value, gpu.name.c_str(), nvlink.name.c_str(), nvlink.bandwidth_GBps.value,
              ib.name.c_str(), ib.bandwidth_GBps.value);
  std::printf("   %4s  %16s  %16s\n", "p", "ratio nvlink4", "ratio ib-ndr");
  for (int p : {2, 4, 8, 16}) {
    const double k = (p - 1) * b * gpu.flops() / (6.0 * H);
    std::printf("   %4d  %16.3f  %16.3f\n", p, k / nvlink.bandwidth(), k / ib.bandwidth());
  }
  std::printf("\n   Below 1 the all-reduces can hide behind the matmuls; above 1 they cannot. Over InfiniBand-class\n"
              "   links the ratio passes 1 by p = 4 (NVLink: only past 8): why tensor parallelism stays inside a node.\n\n");

  std::printf("   Decode (T = 1, memory-bound): each rank reads its 1/p of the block's weights from HBM,\n"
              "   P_blk b / (p M) with M = %.2f TB/s, then waits for two all-reduces of T H b = %.0f bytes\n"
              "   (latency-bound; the fastest form of chapter 1's model).\n\n", gpu.hbm_TBps.value, H * b);
  std::printf("   %4s  %14s  %18s  %14s  %10s  %18s  %10s\n", "p", "weights us", "2 all-red. nvlink", "block us",
              "speed-up", "2 all-red. ib-ndr", "speed-up");
  const double t1 = P_blk * b / gpu.memory_bandwidth();
  for (int p : {1, 2, 4, 8, 16, 32}) {
    const double w = t1 / p;
    const double ar_nv = 2.0 * best_all_reduce(p, H * b, nvlink), ar_ib = 2.0 * best_all_reduce(p, H * b, ib);
    std::printf("   %4d  %14.1f  %18.1f  %14.1f  %9.2fx  %18.1f  %9.2fx\n", p, w * 1e6, ar_nv * 1e6, (w + ar_nv) * 1e6,
                t1 / (w + ar_nv), ar_ib * 1e6, t1 / (w + ar_ib));
  }
  std::printf("\n   Why TP speeds up decoding at all: a decode step is bound by reading weights, and each rank reads\n"
              "   1/p of them. The two all-reduce latencies per block do not shrink with p: they set the floor.\n"
              "   (Peak rates, no overlap, attention's KV reads left out: read the trend, not the microseconds.)\n\n");
}

}  // namespace atp::ch04
