/// \file alpha_beta.hpp
/// \brief Time, not only bytes: the latency + bandwidth (alpha-beta) model of
///        an all-reduce, for each form the book teaches, and the published
///        hardware figures it runs on (simulator/data/hardware.json).
///
/// Legend: p = ranks, S = bytes of one rank's message, B = link bandwidth per
/// GPU and direction (bytes/s), alpha = latency of one sequential step,
/// alpha0 = fixed cost of one collective call (launch and synchronisation).
///
///     form (AllReduceForm)   steps            bytes through each rank's link     time
///     Ring                   2(p-1)           2(p-1)/p S                          alpha0 + 2(p-1) alpha + 2(p-1)/p S/B
///     OneShot (rank order)   1                (p-1) S                             alpha0 + alpha + (p-1) S/B
///     TwoShot                2                2(p-1)/p S                          alpha0 + 2 alpha + 2(p-1)/p S/B
///     Tree (binomial)        2 ceil(log2 p)   S per step                          alpha0 + 2 ceil(log2 p) (alpha + S/B)
///
/// Ring and Tree are the classic formulas of Thakur, Rabenseifner and Gropp,
/// "Optimization of collective communication operations in MPICH" (IJHPCA
/// 2005): the ring reduce-scatter plus all-gather, and a binomial-tree reduce
/// followed by a broadcast. OneShot is the book's rank-order all-reduce and
/// vLLM's cross_device_reduce_1stage (csrc/custom_all_reduce.cuh): every rank
/// reads the p-1 other inputs in one step and sums them itself. TwoShot is
/// vLLM's cross_device_reduce_2stage: a direct reduce-scatter, then a direct
/// all-gather. At p = 1 every form costs nothing (no call is made).
///
/// What the model leaves out, on purpose: NCCL's channels (several rings in
/// parallel), its protocols (LL trades half the bandwidth for low latency,
/// Simple the other way; the figures here take each side's best, so the
/// model is optimistic), pipelining of chunks, contention, the reduction
/// arithmetic and the kernel's own memory traffic. It is a tool for reading
/// trends (where each form wins, how time grows with p and S), not a
/// prediction of a measured time. Chapter 10's cost model builds on it.
#pragma once

#include <string>
#include <vector>

namespace atp::sim {

/// One published figure and where it comes from.
struct SourcedFigure {
  double value = 0.0;  ///< in the unit the field's name says
  std::string source;  ///< who published it (a datasheet, a file and table of NCCL)
};

/// A class of link between GPUs, with its bandwidth and latencies.
struct LinkProfile {
  std::string name;                   ///< "nvlink4", "pcie5", "ib-ndr", ...
  std::string description;            ///< what hardware it stands for
  SourcedFigure bandwidth_GBps;       ///< B, per GPU and direction, 1e9 bytes/s
  SourcedFigure step_latency_us;      ///< alpha, one sequential step, microseconds
  SourcedFigure launch_latency_us;    ///< alpha0, once per collective call, microseconds
  /// B in bytes per second.
  double bandwidth() const { return bandwidth_GBps.value * 1e9; }
  /// alpha in seconds.
  double step_latency() const { return step_latency_us.value * 1e-6; }
  /// alpha0 in seconds.
  double launch_latency() const { return launch_latency_us.value * 1e-6; }
};

/// One GPU's compute rate and memory bandwidth (chapter 4's compute side).
struct GpuProfile {
  std::string name;                  ///< "h100-sxm"
  std::string description;           ///< what it is
  SourcedFigure bf16_dense_TFLOPS;   ///< dense bf16 tensor-core rate, 1e12 flop/s
  SourcedFigure hbm_TBps;            ///< memory bandwidth, 1e12 bytes/s
  /// Flop rate in flop/s.
  double flops() const { return bf16_dense_TFLOPS.value * 1e12; }
  /// Memory bandwidth in bytes/s.
  double memory_bandwidth() const { return hbm_TBps.value * 1e12; }
};

/// The all-reduce forms the model prices.
enum class AllReduceForm {
  Ring,     ///< NCCL's ring: reduce-scatter then all-gather, 2(p-1) steps
  OneShot,  ///< rank order: gather every input, sum locally (vLLM's 1-stage custom all-reduce)
  TwoShot,  ///< direct reduce-scatter, then direct all-gather (vLLM's 2-stage custom all-reduce)
  Tree      ///< binomial-tree reduce, then broadcast
};

/// Every form, in the order the tables print them.
const std::vector<AllReduceForm>& all_reduce_forms();
/// "ring", "one-shot", "two-shot", "tree".
const char* to_string(AllReduceForm form);

/// The model's answer for one all-reduce.
struct AllReduceTime {
  int steps = 0;                ///< sequential steps (each pays alpha)
  double bytes_per_rank = 0.0;  ///< bytes through each rank's link
  double latency_s = 0.0;       ///< alpha0 + steps alpha (0 at p = 1)
  double bandwidth_s = 0.0;     ///< bytes_per_rank / B
  /// latency_s + bandwidth_s.
  double total_s() const { return latency_s + bandwidth_s; }
};

/// The alpha-beta time of one all-reduce of `message_bytes` per rank over p
/// ranks on `link` (see the table in the file comment).
/// \throws std::invalid_argument naming the value unless p >= 1 and message_bytes >= 0.
AllReduceTime all_reduce_time(AllReduceForm form, int p, double message_bytes, const LinkProfile& link);

/// The message size S* per rank at which forms `a` and `b` take the same time
/// for p ranks on `link` (both times are linear in S). Returns 0 when the two
/// never cross at a positive size (one is faster at every S, or they are the
/// same line). Example: below crossover_bytes(OneShot, Ring, 4, nvlink) the
/// one-shot form wins (fewer steps), above it the ring (fewer bytes).
/// \throws std::invalid_argument as all_reduce_time for p < 1.
double crossover_bytes(AllReduceForm a, AllReduceForm b, int p, const LinkProfile& link);

/// The links of simulator/data/hardware.json (compiled into the library).
const std::vector<LinkProfile>& link_profiles();
/// The link named `name`. \throws std::invalid_argument listing the valid names.
const LinkProfile& link_profile(const std::string& name);
/// The GPUs of simulator/data/hardware.json.
const std::vector<GpuProfile>& gpu_profiles();
/// The GPU named `name`. \throws std::invalid_argument listing the valid names.
const GpuProfile& gpu_profile(const std::string& name);

/// The raw text of simulator/data/hardware.json, as compiled in.
const char* hardware_json_text();

}  // namespace atp::sim
