/// \file fuzz_tokenizer_reader.cpp
/// \brief libFuzzer target: any bytes as llama2.c's tokenizer.bin (chapter
///        7's --tokenizer), for a vocabulary of 4 ids; when accepted, every
///        id is decoded.
///
/// A refusal (std::invalid_argument) is the correct answer to most inputs;
/// a crash, a sanitizer report or any other exception is a finding.
/// Seeds: corpus/tokenizer_reader/.
#include "atp/sim/checkpoint/tokenizer.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto tok = atp::sim::Tokenizer::parse_llama2c(bytes, 4, "fuzz-tokenizer.bin");
    for (std::int64_t id = 0; id < tok.vocab(); ++id) (void)tok.decode(atp::sim::kBosId, id);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
