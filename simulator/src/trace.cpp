/// \file trace.cpp
/// \brief The trace: recording events and the queries chapters ask of it.
#include "atp/sim/trace.hpp"

#include <cstdio>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

namespace atp::sim {

Trace::Trace(int p) : p_(p) {
  if (p < 1) throw std::invalid_argument("Trace: p = " + std::to_string(p) + " ranks; p must be >= 1");
}

void Trace::check_rank(int rank, const char* what) const {
  if (rank < 0 || rank >= p_)
    throw std::invalid_argument(std::string("Trace::") + what + ": rank " + std::to_string(rank) +
                                " out of range; valid ranks are 0.." + std::to_string(p_ - 1));
}

void Trace::record(TraceEvent e) {
  check_rank(e.rank, "record");
  events_.push_back(std::move(e));
}

std::vector<TraceEvent> Trace::events(const std::string& op) const {
  std::vector<TraceEvent> out;
  for (const auto& e : events_)
    if (e.op == op) out.push_back(e);
  return out;
}

std::int64_t Trace::count(const std::string& op) const {
  std::set<std::int64_t> calls;
  for (const auto& e : events_)
    if (e.op == op) calls.insert(e.call);
  return static_cast<std::int64_t>(calls.size());
}

std::int64_t Trace::count(const std::string& op, int rank) const {
  check_rank(rank, "count");
  std::int64_t n = 0;
  for (const auto& e : events_) n += (e.op == op && e.rank == rank) ? 1 : 0;
  return n;
}

namespace {
// Sums one field over the events of one rank, optionally of one op only.
template <class Field>
std::int64_t sum_of(const std::vector<TraceEvent>& events, int rank, const std::string* op, Field field) {
  std::int64_t s = 0;
  for (const auto& e : events)
    if (e.rank == rank && (op == nullptr || e.op == *op)) s += e.*field;
  return s;
}
}  // namespace

std::int64_t Trace::bytes_sent(int rank) const {
  check_rank(rank, "bytes_sent");
  return sum_of(events_, rank, nullptr, &TraceEvent::bytes_sent);
}
std::int64_t Trace::bytes_received(int rank) const {
  check_rank(rank, "bytes_received");
  return sum_of(events_, rank, nullptr, &TraceEvent::bytes_received);
}
std::int64_t Trace::flops(int rank) const {
  check_rank(rank, "flops");
  return sum_of(events_, rank, nullptr, &TraceEvent::flops);
}
std::int64_t Trace::bytes_sent(int rank, const std::string& op) const {
  check_rank(rank, "bytes_sent");
  return sum_of(events_, rank, &op, &TraceEvent::bytes_sent);
}
std::int64_t Trace::flops(int rank, const std::string& op) const {
  check_rank(rank, "flops");
  return sum_of(events_, rank, &op, &TraceEvent::flops);
}

std::string Trace::summary() const {
  struct Row {
    std::set<std::int64_t> calls;
    std::int64_t sent = 0, received = 0, flops = 0;
  };
  // Ops in order of first appearance, so the table reads like the program.
  std::vector<std::string> order;
  std::map<std::string, Row> rows;
  for (const auto& e : events_) {
    if (rows.find(e.op) == rows.end()) order.push_back(e.op);
    Row& row = rows[e.op];
    row.calls.insert(e.call);
    row.sent += e.bytes_sent;
    row.received += e.bytes_received;
    row.flops += e.flops;
  }
  std::string out;
  char line[200];
  // Two blocks with their own headers, so no column mixes a total over ranks with a per-rank value.
  std::snprintf(line, sizeof line, "%-24s %8s %16s %16s %18s\n", "op (sum over ranks)", "calls", "bytes_sent",
                "bytes_received", "flops");
  out += line;
  for (const auto& op : order) {
    const Row& row = rows[op];
    std::snprintf(line, sizeof line, "%-24s %8zu %16lld %16lld %18lld\n", op.c_str(), row.calls.size(),
                  static_cast<long long>(row.sent), static_cast<long long>(row.received),
                  static_cast<long long>(row.flops));
    out += line;
  }
  std::snprintf(line, sizeof line, "%-24s %8s %16s %16s %18s\n", "rank (sum over ops)", "", "bytes_sent",
                "bytes_received", "flops");
  out += line;
  for (int r = 0; r < p_; ++r) {
    std::snprintf(line, sizeof line, "%-24s %8s %16lld %16lld %18lld\n", ("rank " + std::to_string(r)).c_str(), "",
                  static_cast<long long>(bytes_sent(r)), static_cast<long long>(bytes_received(r)),
                  static_cast<long long>(flops(r)));
    out += line;
  }
  return out;
}

}  // namespace atp::sim
