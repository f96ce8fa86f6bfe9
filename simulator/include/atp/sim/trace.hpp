/// \file trace.hpp
/// \brief The trace: every collective and every matmul of a simulated run, per rank.
///
/// Each operation appends one TraceEvent per participating rank: a collective
/// call involves every rank (one event each, sharing a call id), a local op
/// such as a matmul involves one. Bytes are counted as the algorithm really
/// moves them (the model of each collective is documented in collectives.hpp),
/// which is what chapter 1 plots against p, chapter 7 counts, and chapter 10's
/// cost model turns into time. Leaves out: time itself (the trace is ordered,
/// not clocked) and memory (see memory.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace atp::sim {

/// One rank's part in one operation.
struct TraceEvent {
  std::string op;                      ///< "all_reduce_ring", "all_gather", "matmul", ...
  std::string label;                   ///< the caller's name for it, e.g. "block0.mlp.down"
  int rank = 0;                        ///< which rank this event belongs to
  std::int64_t call = 0;               ///< call id: all events of one collective call share it
  std::vector<std::int64_t> shape_in;  ///< this rank's input shape {rows, cols}
  std::vector<std::int64_t> shape_out; ///< this rank's output shape {rows, cols}
  std::int64_t bytes_sent = 0;         ///< bytes this rank put on the wire
  std::int64_t bytes_received = 0;     ///< bytes this rank took off the wire
  std::int64_t flops = 0;              ///< arithmetic this rank did (2*M*N*K for a matmul; one per add in a reduction)
};

/// An ordered log of TraceEvents for a world of p ranks, with the queries the chapters need.
class Trace {
 public:
  /// A trace for p ranks (p >= 1).
  explicit Trace(int p);

  /// Number of ranks the trace was made for.
  int ranks() const { return p_; }

  /// Starts a new call and returns its id; every event of one collective uses it.
  std::int64_t begin_call() { return next_call_++; }
  /// Appends one event; throws std::invalid_argument if its rank is out of range.
  void record(TraceEvent e);

  /// All events, in the order they were recorded.
  const std::vector<TraceEvent>& events() const { return events_; }
  /// The events of operation `op`, in order.
  std::vector<TraceEvent> events(const std::string& op) const;
  /// Number of calls of `op` (a collective over p ranks counts once, not p times).
  std::int64_t count(const std::string& op) const;
  /// Number of events of `op` on rank r.
  std::int64_t count(const std::string& op, int rank) const;

  /// Total bytes rank r sent over all events.
  std::int64_t bytes_sent(int rank) const;
  /// Total bytes rank r received over all events.
  std::int64_t bytes_received(int rank) const;
  /// Total flops of rank r over all events.
  std::int64_t flops(int rank) const;
  /// Bytes rank r sent in events of `op` only.
  std::int64_t bytes_sent(int rank, const std::string& op) const;
  /// Flops of rank r in events of `op` only.
  std::int64_t flops(int rank, const std::string& op) const;

  /// Forgets every event (call ids keep counting, so old ids are never reused).
  void clear() { events_.clear(); }

  /// A fixed-width table in two labelled blocks: under "op (sum over ranks)"
  /// one line per op (calls, and bytes sent, bytes received and flops summed
  /// over every rank); under "rank (sum over ops)" one line per rank with
  /// that rank's totals over every op.
  std::string summary() const;

 private:
  void check_rank(int rank, const char* what) const;
  int p_;
  std::int64_t next_call_ = 0;
  std::vector<TraceEvent> events_;
};

}  // namespace atp::sim
