/// \file timeline.hpp
/// \brief From a trace to per-rank timelines: every kernel and every
///        collective placed in time, with the waiting made visible.
///
/// The overlap rules the model assumes (chapter 10 states them too):
///
/// 1. One stream per rank. A rank runs its compute ops one after another in
///    the order the trace recorded them; nothing of one rank overlaps.
/// 2. Collectives are synchronization points. A collective call starts when
///    the last of the p ranks reaches it (everyone else waits: a "wait" span)
///    and ends at the same moment on every rank. Its duration is the price of
///    op_cost.hpp, the same for all ranks.
/// 3. No overlap of compute and communication. Tensor parallelism's
///    all-reduces sit on the critical path: the next layer needs their
///    output (Megatron's g, vLLM's RowParallelLinear). Overlapping schemes
///    (sequence-parallel async TP, fused GEMM + all-reduce, micro-batch
///    ping-pong) are not modelled; a model of them would shorten the
///    collective spans, never the compute.
/// 4. Ranks that leave a collective early do not start the next op early:
///    every rank has the same end time per collective, by rule 2.
/// 5. Work a rank does alone (chapter 8's strategies A and C credit a whole
///    encoder to one rank) needs no rule: it is compute on that rank.
///
/// A rank whose events stop before the others' (no more collectives) is idle
/// until the makespan, the end of the last span on any rank. If two ranks
/// reach different collectives next, the run would hang on real GPUs; the
/// scheduler throws, naming both (SGLang's data-parallel encoder hang,
/// chapter 8).
/// Leaves out: host-side launch gaps beyond the kernel floor, CUDA streams
/// other than one per rank, and the ordering of p2p sends.
#pragma once

#include "atp/sim/cost/hardware.hpp"
#include "atp/sim/cost/op_cost.hpp"
#include "atp/sim/trace.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp::cost {

/// What a span of a rank's time is.
enum class SpanKind {
  Compute,     ///< a kernel (one matmul, or one fused attention)
  Collective,  ///< inside a collective call
  Wait,        ///< at a collective, waiting for the last rank to arrive
};

/// "compute", "collective", "wait".
const char* to_string(SpanKind k);

/// One stretch of one rank's time.
struct Span {
  int rank = 0;                  ///< whose time
  SpanKind kind = SpanKind::Compute;  ///< what it is
  double start_s = 0;            ///< from the start of the run
  double end_s = 0;              ///< start_s + duration
  std::string op;                ///< trace op ("matmul", "all_reduce_ring", ...)
  std::string label;             ///< trace label (the stem for fused attention)
  std::string detail;            ///< "gemm compute-bound", "attention x32 memory-bound", "nccl ring/LL", ...
  double flops = 0;              ///< compute: flops; collective: 0
  double bytes = 0;              ///< compute: memory bytes; collective: the most bytes a rank moved
  int events = 1;                ///< trace events the span covers (fused attention: many)
  /// end_s - start_s.
  double seconds() const { return end_s - start_s; }
};

/// Per-rank totals.
struct RankTime {
  double compute_s = 0;     ///< in compute spans
  double collective_s = 0;  ///< in collective spans
  double wait_s = 0;        ///< waiting at collectives
  double end_s = 0;         ///< when the rank's last span ends
};

/// A run placed in time.
struct Timeline {
  int p = 1;                     ///< ranks
  std::vector<Span> spans;       ///< every span, by rank, in time order within a rank
  std::vector<RankTime> ranks;   ///< per-rank totals
  double makespan_s = 0;         ///< the end of the last span on any rank

  /// Idle share of rank r: (waits + time after its last span) / makespan (0 for an empty run).
  double idle_fraction(int r) const;
  /// Mean of idle_fraction over the ranks.
  double mean_idle_fraction() const;
  /// Seconds of the spans of rank r whose label starts with `prefix` (and of `kind`, unless `any_kind`).
  double seconds_with_prefix(int r, const std::string& prefix, SpanKind kind, bool any_kind = false) const;
  /// Seconds of rank r's collective spans of trace op `op`.
  double seconds_of_op(int r, const std::string& op) const;
};

/// Prices and places every event of `trace` on `hw` (p = trace.ranks() must fit the profile).
/// \throws std::invalid_argument if p does not fit the profile, an event cannot be priced, or the
///         ranks' collective sequences disagree (naming the ranks, the calls and their labels).
Timeline schedule(const sim::Trace& trace, const HardwareProfile& hw, const CostOptions& options);

/// A fixed-width table: per rank compute, collective, wait, idle share; then the makespan.
std::string timeline_table(const Timeline& t);

/// Time per label group on rank r: the first `depth` dot-separated components of
/// each label, in order of first appearance, with compute and collective seconds.
std::string breakdown_table(const Timeline& t, int rank, int depth);

}  // namespace atp::cost
