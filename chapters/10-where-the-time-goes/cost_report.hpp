/// \file cost_report.hpp
/// \brief Chapter 10's shared command-line pieces: reading image sizes,
///        choosing a hardware profile, printing a costed scenario (summary,
///        per-rank table, per-stage table) and writing its timeline files.
///
/// Used by atp-cost and atp-ch10-where-the-time-goes. Leaves out: the
/// option definitions themselves (each binary declares its own with CLI11,
/// strict: unknown options and bad values stop it with a message).
#pragma once

#include "atp/sim/cost/hardware.hpp"
#include "atp/sim/cost/scenario.hpp"

#include <string>
#include <vector>

namespace atp::ch10 {

/// "448x448,1120x840" -> sizes. \throws std::invalid_argument naming the bad item and the expected form.
std::vector<sim::dry::ImageSize> parse_image_sizes(const std::string& text);

/// The profile to use: the file when `file` is not empty, else the compiled-in `name`.
/// \throws std::invalid_argument listing the known profiles, or naming the unreadable file.
cost::HardwareProfile choose_profile(const std::string& name, const std::string& file);

/// "llava-1.5-7b C tp8 h100-sxm 4img prefill": a file-name-safe summary.
std::string scenario_slug(const cost::Scenario& s, const cost::HardwareProfile& hw);

/// Stage of a span label, for the per-stage table: "vision.encode", "vision.gather", "projector",
/// "decoder.embed", "decoder.blocks", "decoder.lm_head".
std::string stage_of(const std::string& label);

/// Prints the scenario's header, the time it costs, the per-rank table and the per-stage table.
void print_report(const cost::Scenario& s, const cost::HardwareProfile& hw, const cost::CostOptions& o,
                  const cost::ScenarioResult& r);

/// Writes DIR/SLUG.json (Chrome/Perfetto, every span) and DIR/SLUG.svg and prints both paths;
/// with `until_s` > 0 writes only the SVG, of the first `until_s` seconds.
/// \throws std::invalid_argument naming DIR if it does not exist or cannot be written.
void write_timeline_files(const std::string& dir, const std::string& slug, const std::string& title,
                          const cost::Timeline& t, double until_s = 0);

}  // namespace atp::ch10
