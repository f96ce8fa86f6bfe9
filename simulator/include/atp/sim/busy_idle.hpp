/// \file busy_idle.hpp
/// \brief Busy and idle per rank, read from the trace: the flops each rank
///        computed, the bytes it moved, how long it waited for the slowest.
///
/// The trace records work, not time, so "busy" is counted in matmul flops
/// and "idle" as the work a rank did not do while the slowest rank was still
/// computing: idle_r = max_q flops_q - flops_r. Collectives are sync points:
/// nobody leaves an all-gather before the last rank arrives. With a collective
/// after the work (chapter 8's strategies A and C), idle_r is exactly the
/// compute time rank r spends waiting at that collective, in flops;
/// lockstep_timeline() splits a run at every collective for the figures, and
/// chapter 10 turns flops and bytes into seconds. Leaves out: elementwise work
/// (not recorded, see compute.hpp), overlap of compute and communication.
#pragma once

#include "atp/sim/trace.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp::sim {

/// One rank's part of a run (or of the events whose label starts with a prefix).
struct RankBusy {
  int rank = 0;                      ///< the rank
  std::int64_t flops = 0;            ///< matmul flops it computed (busy)
  std::int64_t idle_flops = 0;       ///< the busiest rank's flops minus its own (idle)
  std::int64_t bytes_sent = 0;       ///< bytes it put on the wire
  std::int64_t bytes_received = 0;   ///< bytes it took off the wire
  std::int64_t collectives = 0;      ///< collective calls it joined
};

/// Per rank, over the events whose label starts with `label_prefix` ("" = all).
std::vector<RankBusy> busy_idle(const Trace& trace, const std::string& label_prefix = "");

/// How uneven the busy column is.
struct Imbalance {
  double max_over_mean = 1.0;   ///< busiest rank's flops / mean flops (1 = perfectly balanced)
  double idle_fraction = 0.0;   ///< sum of idle / (p * busiest): the share of rank-time spent waiting
};

/// The imbalance of busy_idle()'s rows (all-idle rows give max_over_mean 1 and idle 0).
Imbalance imbalance(const std::vector<RankBusy>& rows);

/// A fixed-width table: one line per rank (busy MFLOP, idle MFLOP, idle %, bytes
/// sent, bytes received, collectives), then a totals line.
std::string busy_idle_table(const std::vector<RankBusy>& rows);

/// One stretch of a run between two sync points, for drawing per-rank timelines.
struct TimelineSegment {
  bool collective = false;           ///< a collective call (else: compute since the previous one)
  std::string label;                 ///< the collective's op and label, or "compute"
  std::vector<std::int64_t> flops;   ///< per rank: matmul flops in this stretch (0 for a collective)
  std::vector<std::int64_t> bytes;   ///< per rank: bytes sent + received by the collective (0 for compute)
};

/// The run cut at every collective call: compute stretches (per-rank flops
/// since the previous collective) alternating with the collectives
/// themselves, in trace order, over the events whose label starts with `label_prefix`.
std::vector<TimelineSegment> lockstep_timeline(const Trace& trace, const std::string& label_prefix = "");

}  // namespace atp::sim
