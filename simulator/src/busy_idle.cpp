/// \file busy_idle.cpp
/// \brief Busy, idle and lockstep timelines from the trace.
#include "atp/sim/busy_idle.hpp"

#include "atp/sim/compute.hpp"

#include <algorithm>
#include <cstdio>

namespace atp::sim {
namespace {

bool selected(const TraceEvent& e, const std::string& prefix) { return e.label.rfind(prefix, 0) == 0; }

}  // namespace

std::vector<RankBusy> busy_idle(const Trace& trace, const std::string& label_prefix) {
  std::vector<RankBusy> rows(static_cast<std::size_t>(trace.ranks()));
  for (int r = 0; r < trace.ranks(); ++r) rows[static_cast<std::size_t>(r)].rank = r;
  for (const TraceEvent& e : trace.events()) {
    if (!selected(e, label_prefix)) continue;
    RankBusy& row = rows[static_cast<std::size_t>(e.rank)];
    if (e.op == kMatmulOp) {
      row.flops += e.flops;
    } else {  // a collective: its additions are not matmul work, its bytes are
      row.bytes_sent += e.bytes_sent;
      row.bytes_received += e.bytes_received;
      ++row.collectives;
    }
  }
  std::int64_t busiest = 0;
  for (const RankBusy& r : rows) busiest = std::max(busiest, r.flops);
  for (RankBusy& r : rows) r.idle_flops = busiest - r.flops;
  return rows;
}

Imbalance imbalance(const std::vector<RankBusy>& rows) {
  Imbalance out;
  if (rows.empty()) return out;
  std::int64_t busiest = 0, total = 0, idle = 0;
  for (const RankBusy& r : rows) {
    busiest = std::max(busiest, r.flops);
    total += r.flops;
    idle += r.idle_flops;
  }
  if (busiest == 0) return out;
  const double n = static_cast<double>(rows.size());
  out.max_over_mean = static_cast<double>(busiest) / (static_cast<double>(total) / n);
  out.idle_fraction = static_cast<double>(idle) / (n * static_cast<double>(busiest));
  return out;
}

std::string busy_idle_table(const std::vector<RankBusy>& rows) {
  std::string out;
  char line[200];
  std::snprintf(line, sizeof line, "   %4s  %12s  %12s  %6s  %12s  %12s  %11s\n", "rank", "busy MFLOP", "idle MFLOP",
                "idle %", "bytes sent", "bytes recv", "collectives");
  out += line;
  std::int64_t flops = 0, idle = 0, sent = 0, recv = 0;
  for (const RankBusy& r : rows) {
    const double busiest = static_cast<double>(r.flops + r.idle_flops);
    std::snprintf(line, sizeof line, "   %4d  %12.3f  %12.3f  %6.1f  %12lld  %12lld  %11lld\n", r.rank, r.flops / 1e6,
                  r.idle_flops / 1e6, busiest > 0 ? 100.0 * r.idle_flops / busiest : 0.0,
                  static_cast<long long>(r.bytes_sent), static_cast<long long>(r.bytes_received),
                  static_cast<long long>(r.collectives));
    out += line;
    flops += r.flops;
    idle += r.idle_flops;
    sent += r.bytes_sent;
    recv += r.bytes_received;
  }
  std::snprintf(line, sizeof line, "   %4s  %12.3f  %12.3f  %6s  %12lld  %12lld\n", "all", flops / 1e6, idle / 1e6, "",
                static_cast<long long>(sent), static_cast<long long>(recv));
  out += line;
  return out;
}

std::vector<TimelineSegment> lockstep_timeline(const Trace& trace, const std::string& label_prefix) {
  const std::size_t p = static_cast<std::size_t>(trace.ranks());
  std::vector<TimelineSegment> out;
  std::int64_t open_call = -1;  // the collective call the last segment belongs to
  for (const TraceEvent& e : trace.events()) {
    if (!selected(e, label_prefix)) continue;
    const bool collective = e.op != kMatmulOp;
    const bool extend = !out.empty() && (collective ? (out.back().collective && open_call == e.call)
                                                    : !out.back().collective);
    if (!extend) {
      out.push_back({collective, collective ? e.op + " " + e.label : std::string("compute"),
                     std::vector<std::int64_t>(p, 0), std::vector<std::int64_t>(p, 0)});
      open_call = collective ? e.call : -1;
    }
    TimelineSegment& s = out.back();
    if (collective)
      s.bytes[static_cast<std::size_t>(e.rank)] += e.bytes_sent + e.bytes_received;
    else
      s.flops[static_cast<std::size_t>(e.rank)] += e.flops;
  }
  return out;
}

}  // namespace atp::sim
