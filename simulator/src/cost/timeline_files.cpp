/// \file timeline_files.cpp
/// \brief Chrome/Perfetto JSON and SVG writers for a Timeline.
#include "atp/sim/cost/timeline_files.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <vector>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace atp::cost {

std::string chrome_trace_json(const Timeline& t, const std::string& title) {
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", 0}, {"args", {{"name", title}}}});
  for (int r = 0; r < t.p; ++r) {
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", 0}, {"tid", r},
                      {"args", {{"name", "rank " + std::to_string(r)}}}});
    events.push_back({{"ph", "M"}, {"name", "thread_sort_index"}, {"pid", 0}, {"tid", r}, {"args", {{"sort_index", r}}}});
  }
  for (const Span& s : t.spans) {
    nlohmann::json args = {{"op", s.op}, {"detail", s.detail}};
    if (s.flops > 0) args["flops"] = s.flops;
    if (s.bytes > 0) args["bytes"] = s.bytes;
    if (s.events > 1) args["events"] = s.events;
    events.push_back({{"ph", "X"}, {"name", s.kind == SpanKind::Wait ? "wait: " + s.label : s.label},
                      {"cat", to_string(s.kind)}, {"pid", 0}, {"tid", s.rank}, {"ts", s.start_s * 1e6},
                      {"dur", s.seconds() * 1e6}, {"args", args}});
  }
  nlohmann::json doc = {{"traceEvents", events}, {"displayTimeUnit", "ns"},
                        {"otherData", {{"title", title}, {"makespan_us", t.makespan_s * 1e6}}}};
  return doc.dump(1) + "\n";
}

namespace {

std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

const char* fill_of(SpanKind k) {
  switch (k) {
    case SpanKind::Compute: return "#4C78A8";
    case SpanKind::Collective: return "#F58518";
    case SpanKind::Wait: return "url(#wait)";
  }
  return "#000";
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `n` ticks over `span`.
double tick_step(double span, int n) {
  const double raw = span / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

}  // namespace

std::string timeline_svg(const Timeline& t, const std::string& title, int width, double until_s) {
  if (width < 200) throw std::invalid_argument("timeline_svg: width " + std::to_string(width) + " px; need >= 200");
  if (until_s < 0) throw std::invalid_argument("timeline_svg: window end " + std::to_string(until_s) + " s; need >= 0");
  const int left = 70, right = 20, top = 40, lane = 26, gap = 8, axis = 40, legend = 28;
  const int height = top + t.p * (lane + gap) + axis + legend;
  const int columns = width - left - right;
  const double total = until_s > 0 ? until_s : (t.makespan_s > 0 ? t.makespan_s : 1.0);
  const double per_px = total / columns;
  char buf[512];
  std::string svg;
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "font-family=\"sans-serif\" font-size=\"12\">\n",
                width, height, width, height);
  svg += buf;
  svg += "<defs><pattern id=\"wait\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
         "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#E0E0E0\"/>"
         "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#9E9E9E\" stroke-width=\"2\"/></pattern></defs>\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  std::snprintf(buf, sizeof buf, "<text x=\"%d\" y=\"22\" font-size=\"14\" font-weight=\"bold\">%s</text>\n", left,
                escape_xml(title).c_str());
  svg += buf;
  for (int r = 0; r < t.p; ++r) {
    const int y = top + r * (lane + gap);
    std::snprintf(buf, sizeof buf,
                  "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">rank %d</text>\n"
                  "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#BDBDBD\"/>\n",
                  left - 8, y + lane / 2 + 4, r, left, y, columns, lane);
    svg += buf;
    // Rasterize the lane: each pixel column takes the kind that fills most of it (idle when none does),
    // then runs of equal columns become one rectangle. A lane stays a few hundred rectangles at most.
    std::vector<std::array<double, 3>> fill(static_cast<std::size_t>(columns), {0, 0, 0});
    std::vector<const Span*> first(static_cast<std::size_t>(columns), nullptr), last(first);
    for (const Span& s : t.spans) {
      if (s.rank != r || s.start_s >= total) continue;
      const double a = s.start_s, b = std::min(s.end_s, total);
      for (int c = static_cast<int>(a / per_px); c < columns && c * per_px < b; ++c) {
        const double lo = std::max(a, c * per_px), hi = std::min(b, (c + 1) * per_px);
        if (hi <= lo) continue;
        fill[static_cast<std::size_t>(c)][static_cast<int>(s.kind)] += hi - lo;
        if (first[static_cast<std::size_t>(c)] == nullptr) first[static_cast<std::size_t>(c)] = &s;
        last[static_cast<std::size_t>(c)] = &s;
      }
    }
    auto kind_of = [&](int c) {
      const auto& f = fill[static_cast<std::size_t>(c)];
      const double busy = f[0] + f[1] + f[2];
      if (busy < 0.5 * per_px) return -1;  // mostly idle
      return static_cast<int>(std::max_element(f.begin(), f.end()) - f.begin());
    };
    for (int c = 0; c < columns;) {
      const int k = kind_of(c);
      int e = c + 1;
      while (e < columns && kind_of(e) == k) ++e;
      if (k >= 0) {
        // The tooltip names the span of the run's kind when only one such span touches the run.
        const Span* one = nullptr;
        bool several = false;
        for (int i = c; i < e && !several; ++i)
          for (const Span* sp : {first[static_cast<std::size_t>(i)], last[static_cast<std::size_t>(i)]})
            if (sp != nullptr && static_cast<int>(sp->kind) == k) {
              several = one != nullptr && one != sp;
              one = sp;
            }
        std::string tip;
        if (one != nullptr && !several) {
          std::snprintf(buf, sizeof buf, "%s %s: %.2f us (%s)", to_string(one->kind), one->label.c_str(),
                        one->seconds() * 1e6, one->detail.c_str());
          tip = buf;
        } else {
          std::snprintf(buf, sizeof buf, "%.1f to %.1f us: mostly %s", c * per_px * 1e6, e * per_px * 1e6,
                        to_string(static_cast<SpanKind>(k)));
          tip = buf;
        }
        std::snprintf(buf, sizeof buf,
                      "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>%s</title></rect>\n",
                      left + c, y, e - c, lane, fill_of(static_cast<SpanKind>(k)), escape_xml(tip).c_str());
        svg += buf;
      }
      c = e;
    }
  }
  const int ay = top + t.p * (lane + gap) + 4;
  const double step_ms = tick_step(total * 1e3, 8);
  for (double ms = 0; ms <= total * 1e3 + 1e-12; ms += step_ms) {
    const double x = left + columns * (ms * 1e-3) / total;
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#616161\"/>"
                  "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                  x, ay, x, ay + 5, x, ay + 18, ms);
    svg += buf;
  }
  std::snprintf(buf, sizeof buf, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">time (ms)</text>\n", left + columns,
                ay + 32);
  svg += buf;
  const int ly = ay + axis - 8;
  const struct {
    const char* fill;
    const char* name;
  } items[] = {{"#4C78A8", "compute"}, {"#F58518", "collective"}, {"url(#wait)", "waiting at a collective"}};
  int lx = left;
  for (const auto& it : items) {
    std::snprintf(buf, sizeof buf,
                  "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\"/>"
                  "<text x=\"%d\" y=\"%d\">%s</text>\n",
                  lx, ly, it.fill, lx + 20, ly + 12, it.name);
    svg += buf;
    lx += 40 + 8 * static_cast<int>(std::string(it.name).size());
  }
  char span_text[96];
  if (until_s > 0)
    std::snprintf(span_text, sizeof span_text, "first %.3f ms of %.3f ms", until_s * 1e3, t.makespan_s * 1e3);
  else
    std::snprintf(span_text, sizeof span_text, "makespan %.3f ms", t.makespan_s * 1e3);
  std::snprintf(buf, sizeof buf, "<text x=\"%d\" y=\"%d\">%s; blank = idle</text>\n", lx, ly + 12, span_text);
  svg += buf;
  svg += "</svg>\n";
  return svg;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out)
    throw std::invalid_argument("cannot write '" + path + "'; its directory must exist and be writable");
  out << text;
  if (!out) throw std::invalid_argument("writing '" + path + "' failed");
}

}  // namespace atp::cost
