/// \file vocab_inputs.hpp
/// \brief Chapter 6's inputs, shared by the CPU binary, the GPU worker and the
///        tests so that every side starts from the same bits: the embedding
///        table, the untied LM head weight, the hidden states, the token ids.
///
/// Legend: V = vocabulary, H = hidden size, T = tokens. Streams of the
/// counter-based generator: 0 table, 1 LM head weight, 2 hidden states,
/// 3 token ids. Scale 1/3 so that dot products round (NUMERICS.md section 5).
/// Leaves out: anything a real tokenizer or trained model would provide.
#pragma once

#include "atp/rng.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace atp::ch06 {

/// The embedding table (V, H).
inline Matrix make_table(std::int64_t V, std::int64_t H, std::uint64_t seed) {
  return atp::random_matrix(V, H, seed, 0, 1.0f / 3.0f);
}

/// The untied LM head weight (V, H).
inline Matrix make_lm_weight(std::int64_t V, std::int64_t H, std::uint64_t seed) {
  return atp::random_matrix(V, H, seed, 1, 1.0f / 3.0f);
}

/// The hidden states (T, H) the LM head reads: a stand-in for the last block's
/// output (chapter 7 computes the real one).
inline Matrix make_hidden(std::int64_t T, std::int64_t H, std::uint64_t seed) {
  return atp::random_matrix(T, H, seed, 2, 1.0f / 3.0f);
}

/// T token ids in [0, V): counter_bits(seed, 3, t) mod V.
inline std::vector<std::int64_t> make_ids(std::int64_t T, std::int64_t V, std::uint64_t seed) {
  std::vector<std::int64_t> ids(static_cast<std::size_t>(T));
  for (std::int64_t t = 0; t < T; ++t)
    ids[static_cast<std::size_t>(t)] =
        static_cast<std::int64_t>(atp::counter_bits(seed, 3, static_cast<std::uint64_t>(t)) %
                                  static_cast<std::uint64_t>(V));
  return ids;
}

/// Parses "3,145,52" into ids; range checks are the layer's (it names the id and position).
/// Spaces around an id are allowed; an empty item (",3", "3,,4", a trailing "3,") is not.
/// (The binaries parse --ids with atp::sim::cli::parse_integer_list, which applies the same rules.)
/// \throws std::invalid_argument naming the piece that is not an integer.
inline std::vector<std::int64_t> parse_ids(const std::string& text) {
  std::vector<std::int64_t> ids;
  std::size_t start = 0;
  while (true) {
    // Split by hand: std::getline drops the empty item after a trailing comma.
    const std::size_t comma = text.find(',', start);
    const std::string piece = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(piece, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || piece.find_first_not_of(" \t", used) != std::string::npos)
      throw std::invalid_argument("--ids: '" + piece + "' at position " + std::to_string(ids.size()) +
                                  " is not an integer token id" + (piece.empty() ? " (an empty item)" : ""));
    ids.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ids;
}

}  // namespace atp::ch06
