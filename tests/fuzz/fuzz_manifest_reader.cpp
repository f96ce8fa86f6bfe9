/// \file fuzz_manifest_reader.cpp
/// \brief libFuzzer target: any bytes as a dump's manifest.json
///        (atp::sim::parse_manifest, the core of load_manifest).
///
/// Refusals are std::invalid_argument; a crash, a sanitizer report (stack
/// overflow from nesting, a float-to-int conversion out of range), another
/// exception type or an accepted manifest that breaks the reader's own
/// promises (a name twice, a file name other than name + ".npy") is a
/// finding. Seeds: corpus/manifest_reader/.
#include "atp/sim/dump.hpp"

#include <cstddef>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const atp::sim::Manifest m = atp::sim::parse_manifest(text, "fuzz/manifest.json");
    std::set<std::string> names;
    for (const auto& e : m.tensors) {
      if (!names.insert(e.name).second || e.file != e.name + ".npy") __builtin_trap();
      if (e.shape.size() != (e.dtype == "float32" ? 2u : 1u) || e.rank < -1) __builtin_trap();
      (void)m.find(e.name);
    }
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
