/// \file bandwidth.hpp
/// \brief Algorithm bandwidth and bus bandwidth, as nccl-tests defines them.
///
/// A collective over p ranks on a message of S bytes that takes t seconds has
/// algorithm bandwidth algbw = S / t. That number is not comparable across p:
/// an all-reduce must move 2(p-1)/p * S bytes through each rank's link, while
/// a broadcast moves S. nccl-tests therefore reports the bus bandwidth
/// busbw = algbw * factor(op, p), which for an ideal ring equals the link
/// speed whatever p is (see nccl-tests' doc/PERFORMANCE.md). S is the size of
/// one rank's input for all-reduce and broadcast, and of the full (gathered)
/// output for all-gather and reduce-scatter's input. Leaves out: time itself
/// (the simulator does not clock anything; chapter 10's cost model does).
#pragma once

#include <stdexcept>
#include <string>

namespace atp::sim {

/// The collectives nccl-tests measures.
enum class CollectiveKind {
  AllReduce,      ///< factor 2(p-1)/p
  AllGather,      ///< factor (p-1)/p
  ReduceScatter,  ///< factor (p-1)/p
  Broadcast,      ///< factor 1
  Reduce,         ///< factor 1
};

/// busbw / algbw for `kind` over p ranks (p >= 1; 0 for p = 1, nothing moves).
inline double bus_bandwidth_factor(CollectiveKind kind, int p) {
  if (p < 1) throw std::invalid_argument("bus_bandwidth_factor: p = " + std::to_string(p) + ", need p >= 1");
  const double n = p;
  switch (kind) {
    case CollectiveKind::AllReduce: return 2.0 * (n - 1.0) / n;
    case CollectiveKind::AllGather:
    case CollectiveKind::ReduceScatter: return (n - 1.0) / n;
    case CollectiveKind::Broadcast:
    case CollectiveKind::Reduce: return p == 1 ? 0.0 : 1.0;
  }
  return 0.0;
}

/// algbw in bytes per second: S bytes in t seconds (t > 0).
inline double algorithm_bandwidth(double bytes, double seconds) {
  if (!(seconds > 0.0)) throw std::invalid_argument("algorithm_bandwidth: time " + std::to_string(seconds) + " s, need > 0");
  return bytes / seconds;
}

/// busbw in bytes per second: algbw times bus_bandwidth_factor(kind, p).
inline double bus_bandwidth(CollectiveKind kind, int p, double bytes, double seconds) {
  return algorithm_bandwidth(bytes, seconds) * bus_bandwidth_factor(kind, p);
}

}  // namespace atp::sim
