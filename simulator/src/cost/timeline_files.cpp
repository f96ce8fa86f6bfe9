/// \file timeline_files.cpp
/// \brief Chrome/Perfetto JSON and SVG writers for a Timeline.
#include "atp/sim/cost/timeline_files.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
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

std::string timeline_svg(const Timeline& t, const std::string& title, int width) {
  if (width < 200) throw std::invalid_argument("timeline_svg: width " + std::to_string(width) + " px; need >= 200");
  const int left = 70, right = 20, top = 40, lane = 26, gap = 8, axis = 40, legend = 28;
  const int height = top + t.p * (lane + gap) + axis + legend;
  const double plot = width - left - right;
  const double total = t.makespan_s > 0 ? t.makespan_s : 1.0;
  auto x_of = [&](double s) { return left + plot * s / total; };
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
                  "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"none\" stroke=\"#BDBDBD\"/>\n",
                  left - 8, y + lane / 2 + 4, r, left, y, plot, lane);
    svg += buf;
    // Merge neighbouring spans of one kind that are together narrower than a pixel.
    double start = -1, end = -1;
    SpanKind kind = SpanKind::Compute;
    std::string tip;
    auto flush = [&]() {
      if (start < 0) return;
      std::snprintf(buf, sizeof buf,
                    "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\"><title>%s</title></rect>\n",
                    x_of(start), y, std::max(0.3, x_of(end) - x_of(start)), lane, fill_of(kind),
                    escape_xml(tip).c_str());
      svg += buf;
      start = -1;
    };
    for (const Span& s : t.spans) {
      if (s.rank != r) continue;
      const bool merge = start >= 0 && s.kind == kind && x_of(s.end_s) - x_of(start) < 1.0;
      if (!merge) {
        flush();
        start = s.start_s;
        kind = s.kind;
        std::snprintf(buf, sizeof buf, "%s %s: %.2f us (%s)", to_string(s.kind), s.label.c_str(), s.seconds() * 1e6,
                      s.detail.c_str());
        tip = buf;
      } else {
        tip = std::string(to_string(kind)) + ": several short spans";
      }
      end = s.end_s;
    }
    flush();
  }
  const int ay = top + t.p * (lane + gap) + 4;
  const double step_ms = tick_step(total * 1e3, 8);
  for (double ms = 0; ms <= total * 1e3 + 1e-12; ms += step_ms) {
    const double x = x_of(ms * 1e-3);
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#616161\"/>"
                  "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                  x, ay, x, ay + 5, x, ay + 18, ms);
    svg += buf;
  }
  std::snprintf(buf, sizeof buf, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">ms</text>\n", left - 8, ay + 18);
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
  std::snprintf(buf, sizeof buf, "<text x=\"%d\" y=\"%d\">makespan %.3f ms; blank = idle after the rank's last span</text>\n",
                lx, ly + 12, t.makespan_s * 1e3);
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
