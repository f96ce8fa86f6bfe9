/// \file rng.hpp
/// \brief The counter-based generator that makes every input and weight.
///
/// NUMERICS.md section 5: inputs are generated on the host by one
/// counter-based generator, so the same (seed, stream, index) gives the same
/// bits on any machine, in any order, on any number of threads. Element i of
/// a tensor does not depend on how many elements came before it, which lets a
/// rank generate its own shard directly and still match the sliced master.
///
/// The mixer is SplitMix64's finaliser applied three times (seed, stream,
/// index); it is not cryptographic and need not be. Values are uniform on
/// [-1, 1) with 24 significant bits, i.e. exactly representable in fp32, and
/// never all small integers, so sums round (which is what the tests need).
#pragma once

#include "atp/tensor.hpp"

#include <cstdint>

namespace atp {

/// SplitMix64 finaliser: a bijective 64-bit mixer.
constexpr std::uint64_t splitmix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// 64 random bits for element `index` of stream `stream` under `seed`.
constexpr std::uint64_t counter_bits(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  return splitmix64(splitmix64(splitmix64(seed) ^ stream) ^ index);
}

/// Uniform float on [-1, 1): the top 24 bits of the counter hash, scaled.
constexpr float counter_uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  const auto top24 = static_cast<std::int32_t>(counter_bits(seed, stream, index) >> 40);
  return static_cast<float>(top24 - (1 << 23)) * (1.0f / static_cast<float>(1 << 23));
}

/// A (rows, cols) matrix of counter_uniform values times `scale`.
/// Element (i, j) uses index i*cols + j, so any sub-block can be regenerated alone.
inline Matrix random_matrix(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed,
                            std::uint64_t stream, float scale = 1.0f) {
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < rows; ++i)
    for (Eigen::Index j = 0; j < cols; ++j)
      m(i, j) = scale * counter_uniform(seed, stream, static_cast<std::uint64_t>(i * cols + j));
  return m;
}

}  // namespace atp
