/// \file fuzz_checkpoint_reader.cpp
/// \brief libFuzzer target: any bytes as a chapter 7 checkpoint, through the
///        format-detecting reader (llama2.c or safetensors), the safetensors
///        header parser alone, and, when accepted, a read of every tensor.
///
/// A refusal (std::invalid_argument) is the correct answer to most inputs;
/// a crash, a sanitizer report, any other exception, or a tensor whose bytes
/// lie outside the buffer is a finding. Seeds: corpus/checkpoint_reader/
/// (tiny llama2.c files written by a script, shared and separate classifier).
#include "atp/sim/checkpoint/checkpoint.hpp"
#include "atp/sim/checkpoint/safetensors.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    (void)atp::sim::parse_safetensors_file(bytes, "fuzz.safetensors");
  } catch (const std::invalid_argument&) {
  }
  try {
    const auto checkpoint =
        atp::sim::Checkpoint::from_bytes(std::vector<std::byte>(bytes.begin(), bytes.end()), "fuzz.bin");
    // Accepted: every tensor must be readable from the bytes that were given.
    for (const auto& t : checkpoint.tensors()) (void)checkpoint.read(t.name);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
