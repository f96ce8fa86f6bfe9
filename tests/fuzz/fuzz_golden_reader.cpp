/// \file fuzz_golden_reader.cpp
/// \brief libFuzzer target: any bytes as a golden digest file
///        (atp::sim::parse_golden, the core of read_golden), then what the
///        CPU suite does with an accepted one: describe, turn into a command
///        line, check against an empty and a self digest set.
///
/// Refusals are std::invalid_argument; anything else is a finding.
/// Seeds: corpus/golden_reader/.
#include "atp/sim/golden.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const atp::sim::GoldenFile g = atp::sim::parse_golden(text, "fuzz/ch01.json");
    for (const auto& e : g.entries) {
      (void)atp::sim::describe_config(e.config);
      (void)atp::sim::chapter_args(e.config);
      if (g.find(e.config) == nullptr) __builtin_trap();
      if (!atp::sim::check_against_golden(e, e.tensors).ok()) __builtin_trap();
      const atp::sim::GoldenCheck none = atp::sim::check_against_golden(e, {});
      if (none.problems.size() != e.tensors.size()) __builtin_trap();
      (void)none.report(e.config);
    }
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
