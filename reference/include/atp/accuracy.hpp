/// \file accuracy.hpp
/// \brief Measure a float function's error in ulp against a float64 reference
/// over a dense sweep of inputs.
///
/// This is how the book states the accuracy of its own exp, tanh, erf and
/// activations (numerics.hpp): tests/test_numerics.cpp asserts the bounds and
/// the chapter 0 binary prints the table. Two sweeps are offered:
/// Spacing::floats takes evenly spaced positions on the float number line
/// (every k-th float; dense near zero, covering every binade), and
/// Spacing::values takes evenly spaced real values (the range where the
/// function is interesting, e.g. exp on [-87, 88], sampled uniformly).
///
/// What it leaves out: exhaustive (all 2^32 inputs) checks, which take minutes
/// and belong in a separate tool, not in the CI test suite.
#pragma once

#include "atp/ulp.hpp"

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace atp {

/// Result of measure_ulp(): max and mean ulp error and where the max occurred.
struct UlpStats {
  double max_ulp = 0.0;       ///< largest ulp_error() over the samples
  double mean_ulp = 0.0;      ///< average ulp_error() over the samples
  float worst_input = 0.0f;   ///< first input at which max_ulp occurred
  std::uint64_t samples = 0;  ///< number of inputs evaluated
};

/// How measure_ulp() places its samples in [lo, hi].
enum class Spacing {
  floats,  ///< evenly spaced on the float number line (ordered_key): every k-th float
  values,  ///< evenly spaced real values lo + (hi - lo) i / (n - 1), rounded to float
};

/// Error of `f` (float -> float) against `ref` (double -> double, the float64
/// reference, evaluated at the same float input) at n >= 2 inputs spanning
/// [lo, hi] inclusive. Throws std::invalid_argument if lo > hi, either is not
/// finite, or n < 2.
template <class F, class R>
UlpStats measure_ulp(F&& f, R&& ref, float lo, float hi, std::uint64_t n,
                     Spacing spacing = Spacing::floats) {
  if (!(lo <= hi) || !std::isfinite(lo) || !std::isfinite(hi))
    throw std::invalid_argument("measure_ulp: need finite lo <= hi, got [" + std::to_string(lo) +
                                ", " + std::to_string(hi) + "]");
  if (n < 2)
    throw std::invalid_argument("measure_ulp: need at least 2 samples, got " + std::to_string(n));
  UlpStats st;
  double sum = 0.0;
  const std::int64_t k0 = ordered_key(lo), k1 = ordered_key(hi);
  for (std::uint64_t i = 0; i < n; ++i) {
    const double frac = static_cast<double>(i) / static_cast<double>(n - 1);
    float x;
    if (spacing == Spacing::floats) {
      x = float_from_key(k0 + static_cast<std::int64_t>(frac * static_cast<double>(k1 - k0)));
    } else {
      x = static_cast<float>(static_cast<double>(lo) + frac * (static_cast<double>(hi) - lo));
    }
    const double e = ulp_error(f(x), ref(static_cast<double>(x)));
    sum += e;
    if (st.samples == 0 || e > st.max_ulp) {
      st.max_ulp = e;
      st.worst_input = x;
    }
    ++st.samples;
  }
  st.mean_ulp = sum / static_cast<double>(st.samples);
  return st;
}

}  // namespace atp
