/// \file timeline.cpp
/// \brief Placing a priced trace in time: one stream per rank, collectives as
///        synchronization points (the rules of timeline.hpp).
#include "atp/sim/cost/timeline.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <stdexcept>

namespace atp::cost {

const char* to_string(SpanKind k) {
  switch (k) {
    case SpanKind::Compute: return "compute";
    case SpanKind::Collective: return "collective";
    case SpanKind::Wait: return "wait";
  }
  return "?";
}

double Timeline::idle_fraction(int r) const {
  if (makespan_s <= 0) return 0.0;
  const RankTime& t = ranks.at(static_cast<std::size_t>(r));
  return (t.wait_s + (makespan_s - t.end_s)) / makespan_s;
}

double Timeline::mean_idle_fraction() const {
  double s = 0;
  for (int r = 0; r < p; ++r) s += idle_fraction(r);
  return p > 0 ? s / p : 0.0;
}

double Timeline::seconds_with_prefix(int r, const std::string& prefix, SpanKind kind, bool any_kind) const {
  double s = 0;
  for (const Span& sp : spans)
    if (sp.rank == r && (any_kind || sp.kind == kind) && sp.label.rfind(prefix, 0) == 0) s += sp.seconds();
  return s;
}

double Timeline::seconds_of_op(int r, const std::string& op) const {
  double s = 0;
  for (const Span& sp : spans)
    if (sp.rank == r && sp.kind == SpanKind::Collective && sp.op == op) s += sp.seconds();
  return s;
}

namespace {

std::string describe_call(const sim::TraceEvent& e) {
  return e.op + " '" + e.label + "' (call " + std::to_string(e.call) + ")";
}

}  // namespace

Timeline schedule(const sim::Trace& trace, const HardwareProfile& hw, const CostOptions& options) {
  check_element_bytes(options.element_bytes);
  const int p = trace.ranks();
  hw.nodes_for(p);  // throws naming p and the profile's range
  const NcclTuningModel nccl(hw, p);
  const auto& events = trace.events();

  std::vector<std::vector<std::size_t>> of_rank(static_cast<std::size_t>(p));
  std::map<std::int64_t, std::vector<const sim::TraceEvent*>> calls;
  for (std::size_t i = 0; i < events.size(); ++i) {
    of_rank[static_cast<std::size_t>(events[i].rank)].push_back(i);
    if (is_collective_op(events[i].op)) calls[events[i].call].push_back(&events[i]);
  }

  Timeline t;
  t.p = p;
  t.ranks.assign(static_cast<std::size_t>(p), RankTime{});
  std::vector<std::size_t> cursor(static_cast<std::size_t>(p), 0);
  std::vector<double> now(static_cast<std::size_t>(p), 0.0);
  std::vector<std::vector<Span>> lanes(static_cast<std::size_t>(p));

  auto at = [&](int r) -> const sim::TraceEvent* {
    const auto& list = of_rank[static_cast<std::size_t>(r)];
    const std::size_t c = cursor[static_cast<std::size_t>(r)];
    return c < list.size() ? &events[list[c]] : nullptr;
  };

  // Runs rank r's compute ops up to its next collective (rule 1), fusing a layer's attention heads.
  auto run_compute = [&](int r) {
    const auto R = static_cast<std::size_t>(r);
    for (const sim::TraceEvent* e = at(r); e != nullptr && !is_collective_op(e->op); e = at(r)) {
      const OpClass cls = classify_matmul(e->label);
      Span s;
      s.rank = r;
      s.kind = SpanKind::Compute;
      s.op = e->op;
      s.events = 0;
      s.label = cls == OpClass::Attention ? label_stem(e->label) : e->label;
      const int g = cls == OpClass::Attention && options.kv_group ? options.kv_group(s.label) : 1;
      for (; e != nullptr && e->op == s.op && classify_matmul(e->label) == cls; e = at(r)) {
        if (cls == OpClass::Attention ? label_stem(e->label) != s.label : s.events > 0) break;
        s.flops += static_cast<double>(e->flops);
        s.bytes += matmul_bytes(*e, cls, options.element_bytes, g);
        ++s.events;
        ++cursor[R];
      }
      const KernelCost k = roofline(cls, s.flops, s.bytes, hw);
      s.detail = std::string(to_string(cls)) + (s.events > 1 ? " x" + std::to_string(s.events) : "") + ", " +
                 k.bound() + "-bound";
      s.start_s = now[R];
      s.end_s = now[R] + k.seconds;
      now[R] = s.end_s;
      t.ranks[R].compute_s += k.seconds;
      lanes[R].push_back(std::move(s));
    }
  };

  for (;;) {
    for (int r = 0; r < p; ++r) run_compute(r);
    int first = -1;
    for (int r = 0; r < p && first < 0; ++r)
      if (at(r) != nullptr) first = r;
    if (first < 0) break;  // every rank has run all its events
    const sim::TraceEvent& head = *at(first);
    const auto& call = calls.at(head.call);
    double start = 0;
    for (const sim::TraceEvent* e : call) {
      const sim::TraceEvent* next = at(e->rank);
      if (next == nullptr || next->call != head.call)
        throw std::invalid_argument(
            "the ranks' collectives disagree, so p GPUs would hang: rank " + std::to_string(first) + " waits in " +
            describe_call(head) + " while rank " + std::to_string(e->rank) +
            (next == nullptr ? " has no collective left" : " waits in " + describe_call(*next)));
      start = std::max(start, now[static_cast<std::size_t>(e->rank)]);
    }
    const CollectiveCost c = price_collective(call, hw, nccl, options);
    for (const sim::TraceEvent* e : call) {
      const auto R = static_cast<std::size_t>(e->rank);
      if (start > now[R]) {
        Span w;
        w.rank = e->rank;
        w.kind = SpanKind::Wait;
        w.start_s = now[R];
        w.end_s = start;
        w.op = e->op;
        w.label = e->label;
        w.detail = "waiting for the last rank";
        t.ranks[R].wait_s += start - now[R];
        lanes[R].push_back(std::move(w));
      }
      Span s;
      s.rank = e->rank;
      s.kind = SpanKind::Collective;
      s.start_s = start;
      s.end_s = start + c.seconds;
      s.op = e->op;
      s.label = e->label;
      s.detail = c.detail;
      s.bytes = c.wire_bytes;
      t.ranks[R].collective_s += c.seconds;
      lanes[R].push_back(std::move(s));
      now[R] = start + c.seconds;
      ++cursor[R];
    }
  }
  for (int r = 0; r < p; ++r) {
    const auto R = static_cast<std::size_t>(r);
    t.ranks[R].end_s = now[R];
    t.makespan_s = std::max(t.makespan_s, now[R]);
    for (Span& s : lanes[R]) t.spans.push_back(std::move(s));
  }
  return t;
}

std::string timeline_table(const Timeline& t) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-8s %12s %12s %12s %12s %8s\n", "rank", "compute_ms", "collective_ms", "wait_ms",
                "end_ms", "idle");
  out += line;
  for (int r = 0; r < t.p; ++r) {
    const RankTime& x = t.ranks[static_cast<std::size_t>(r)];
    std::snprintf(line, sizeof line, "%-8d %12.4f %12.4f %12.4f %12.4f %7.1f%%\n", r, x.compute_s * 1e3,
                  x.collective_s * 1e3, x.wait_s * 1e3, x.end_s * 1e3, 100.0 * t.idle_fraction(r));
    out += line;
  }
  std::snprintf(line, sizeof line, "makespan %.4f ms, mean idle %.1f%%\n", t.makespan_s * 1e3,
                100.0 * t.mean_idle_fraction());
  out += line;
  return out;
}

std::string breakdown_table(const Timeline& t, int rank, int depth) {
  struct Row {
    double compute = 0, collective = 0, wait = 0;
  };
  std::vector<std::string> order;
  std::map<std::string, Row> rows;
  for (const Span& s : t.spans) {
    if (s.rank != rank) continue;
    std::string key;
    std::size_t pos = 0;
    for (int d = 0; d < depth && pos != std::string::npos; ++d) {
      const std::size_t dot = s.label.find('.', pos);
      key = s.label.substr(0, dot);
      pos = dot == std::string::npos ? dot : dot + 1;
    }
    if (rows.find(key) == rows.end()) order.push_back(key);
    Row& row = rows[key];
    (s.kind == SpanKind::Compute ? row.compute : s.kind == SpanKind::Collective ? row.collective : row.wait) +=
        s.seconds();
  }
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-36s %12s %14s %10s %8s\n", "label", "compute_ms", "collective_ms", "wait_ms",
                "share");
  out += line;
  for (const auto& key : order) {
    const Row& r = rows[key];
    std::snprintf(line, sizeof line, "%-36s %12.4f %14.4f %10.4f %7.1f%%\n", key.c_str(), r.compute * 1e3,
                  r.collective * 1e3, r.wait * 1e3,
                  t.makespan_s > 0 ? 100.0 * (r.compute + r.collective + r.wait) / t.makespan_s : 0.0);
    out += line;
  }
  return out;
}

}  // namespace atp::cost
