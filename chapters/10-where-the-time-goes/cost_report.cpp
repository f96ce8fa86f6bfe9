/// \file cost_report.cpp
/// \brief Image sizes, profile choice, the printed report and the timeline files.
#include "cost_report.hpp"

#include "atp/sim/cost/timeline_files.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <stdexcept>

namespace atp::ch10 {

namespace cost = atp::cost;

std::vector<sim::dry::ImageSize> parse_image_sizes(const std::string& text) {
  std::vector<sim::dry::ImageSize> out;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) {
    const auto x = item.find('x');
    int h = 0, w = 0;
    std::size_t used_h = 0, used_w = 0;
    try {
      if (x == std::string::npos) throw std::invalid_argument("no x");
      h = std::stoi(item.substr(0, x), &used_h);
      w = std::stoi(item.substr(x + 1), &used_w);
    } catch (const std::exception&) {
      used_h = 0;
    }
    if (used_h != x || used_w != item.size() - x - 1 || h < 1 || w < 1)
      throw std::invalid_argument("image size '" + item + "' is not HEIGHTxWIDTH in pixels, e.g. 448x448");
    out.push_back({h, w});
  }
  if (out.empty()) throw std::invalid_argument("no image sizes in '" + text + "'; give e.g. 448x448,1120x840");
  return out;
}

cost::HardwareProfile choose_profile(const std::string& name, const std::string& file) {
  return file.empty() ? cost::hardware_profile(name) : cost::load_hardware_profile_file(file);
}

std::string scenario_slug(const cost::Scenario& s, const cost::HardwareProfile& hw) {
  std::string slug = s.model + "-" + (s.phase == cost::Phase::Prefill ? std::string("prefill") : "decode") + "-tp" +
                     std::to_string(s.tp) + "-" + hw.name;
  if (s.phase == cost::Phase::Prefill && s.images > 0)
    slug += std::string("-") + sim::dry::strategy_letter(s.strategy) + "-" + std::to_string(s.images) + "img";
  for (char& c : slug)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) c = '_';
  return slug;
}

std::string stage_of(const std::string& label) {
  auto starts = [&](const char* p) { return label.rfind(p, 0) == 0; };
  if (starts("vision.encode")) return "vision.encode";
  if (starts("vision.")) return label;  // vision.broadcast, vision.gather
  if (starts("projector")) return "projector";
  if (starts("decoder.block")) return "decoder.blocks";
  const auto dot = label.find('.', label.find('.') + 1);
  return label.substr(0, dot);
}

void print_report(const cost::Scenario& s, const cost::HardwareProfile& hw, const cost::CostOptions& o,
                  const cost::ScenarioResult& r) {
  const cost::Timeline& t = r.timeline;
  std::printf("atp-cost: %s, %s, tp %d on %s (%s)\n", s.model.c_str(), cost::to_string(s.phase), s.tp, hw.name.c_str(),
              hw.description.c_str());
  std::printf("  %s elements, collectives priced by %s, the trace's all-reduce: %s\n",
              o.element_bytes == 2 ? "bf16" : "fp32", cost::to_string(o.collectives), sim::to_string(s.order));
  if (s.phase == cost::Phase::Decode) {
    std::printf("  one decode step: 1 new token after %lld cached\n", static_cast<long long>(s.context));
  } else if (r.has_vision) {
    std::printf("  strategy %s%s, %zu image%s:", sim::dry::strategy_letter(r.strategy_used),
                r.strategy_used == sim::dry::EncoderStrategy::OneRank   ? " (one rank, then broadcast)"
                : r.strategy_used == sim::dry::EncoderStrategy::Weights ? " (weights sharded)"
                                                                        : " (images across ranks, all-gather)",
                r.images.size(), r.images.size() == 1 ? "" : "s");
    for (const auto& img : r.images) std::printf(" %dx%d", img.height, img.width);
    std::printf("\n  decoder tokens T = %lld text + %lld image = %lld\n", static_cast<long long>(s.text_tokens),
                static_cast<long long>(r.image_tokens), static_cast<long long>(r.decoder_tokens));
  } else {
    std::printf("  prefill of T = %lld tokens (text only)\n", static_cast<long long>(r.decoder_tokens));
  }
  if (!r.note.empty()) std::printf("  note: %s\n", r.note.c_str());
  std::printf("  dry run: %zu trace events, no tensors\n\n", r.trace_events);
  std::printf("%s: %.3f ms   (mean idle %.1f%% of rank-time)\n\n",
              s.phase == cost::Phase::Prefill ? "time to first token" : "decode step", t.makespan_s * 1e3,
              100.0 * t.mean_idle_fraction());
  std::printf("%s\n", cost::timeline_table(t).c_str());

  // Per stage, on the busiest rank (the one that ends last, or rank 0).
  std::vector<std::string> order;
  std::map<std::string, std::array<double, 3>> rows;
  for (const cost::Span& sp : t.spans) {
    if (sp.rank != 0) continue;
    const std::string key = stage_of(sp.label);
    if (rows.find(key) == rows.end()) {
      order.push_back(key);
      rows[key] = {0, 0, 0};
    }
    rows[key][static_cast<int>(sp.kind)] += sp.seconds();
  }
  std::printf("%-22s %12s %14s %10s %8s   (rank 0)\n", "stage", "compute_ms", "collective_ms", "wait_ms", "share");
  for (const auto& key : order) {
    const auto& v = rows[key];
    std::printf("%-22s %12.4f %14.4f %10.4f %7.1f%%\n", key.c_str(), v[0] * 1e3, v[1] * 1e3, v[2] * 1e3,
                t.makespan_s > 0 ? 100.0 * (v[0] + v[1] + v[2]) / t.makespan_s : 0.0);
  }
  std::printf("\n");
}

void write_timeline_files(const std::string& dir, const std::string& slug, const std::string& title,
                          const cost::Timeline& t, double until_s) {
  if (!std::filesystem::is_directory(dir))
    throw std::invalid_argument("output folder '" + dir + "' does not exist; create it or pass --out to an existing one");
  const std::string svg = (std::filesystem::path(dir) / (slug + ".svg")).string();
  if (until_s > 0) {  // a zoomed picture: the JSON of the whole run is written by the unzoomed call
    cost::write_text_file(svg, cost::timeline_svg(t, title, 960, until_s));
    std::printf("timeline: %s (the first %.3f ms)\n", svg.c_str(), until_s * 1e3);
    return;
  }
  const std::string json = (std::filesystem::path(dir) / (slug + ".json")).string();
  cost::write_text_file(json, cost::chrome_trace_json(t, title));
  cost::write_text_file(svg, cost::timeline_svg(t, title));
  std::printf("timeline: %s (open in ui.perfetto.dev or chrome://tracing)\n          %s\n", json.c_str(), svg.c_str());
}

}  // namespace atp::ch10
