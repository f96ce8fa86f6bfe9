/// \file fuzz_npy_reader.cpp
/// \brief libFuzzer target: any bytes as a .npy file, through the three
///        readers (header only, float32 matrix, int64 vector).
///
/// A refusal (std::invalid_argument) is the correct answer to most inputs;
/// a crash, a sanitizer report, any other exception or an allocation beyond
/// what the input's size justifies is a finding. Seeds: corpus/npy_reader/.
#include "atp/sim/npy.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    (void)atp::sim::read_npy_header_bytes(bytes, "fuzz.npy");
  } catch (const std::invalid_argument&) {
  }
  try {
    atp::sim::NpyHeader h;
    const atp::Matrix m = atp::sim::read_npy_bytes(bytes, "fuzz.npy", &h);
    // What was read must be what the header promised.
    std::int64_t count = 1;
    for (const auto d : h.shape) count *= d;
    if (count != m.size()) __builtin_trap();
  } catch (const std::invalid_argument&) {
  }
  try {
    (void)atp::sim::read_npy_i64_bytes(bytes, "fuzz.npy");
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
