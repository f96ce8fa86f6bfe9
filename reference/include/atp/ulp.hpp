/// \file ulp.hpp
/// \brief Bit patterns, ulp distances, and the readable report every bitwise
/// test prints on failure.
///
/// "Bitwise equal" in this book means equal 32-bit patterns (NUMERICS.md
/// section 6), so compare_bitwise() compares bits, never values: +0 and -0
/// differ, and two NaNs with the same payload are equal. When buffers differ,
/// the report says how many elements differ, where the first one is, both
/// values with their bits, and the largest ulp distance, which is usually
/// enough to tell a reordered sum (a few ulp) from a wrong index (garbage).
///
/// What it leaves out: bf16/fp16, and tolerance checks (those compare against
/// the float64 reference, see dense_reference.hpp and accuracy.hpp).
#pragma once

#include "atp/tensor.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>

namespace atp {

/// The IEEE-754 bit pattern of `x`.
inline std::uint32_t float_bits(float x) { return std::bit_cast<std::uint32_t>(x); }

/// Position of `x` on the number line of floats: consecutive floats have
/// consecutive keys, +0 and -0 both map to 0, negative floats map below 0.
inline std::int64_t ordered_key(float x) {
  const std::uint32_t u = float_bits(x);
  const auto mag = static_cast<std::int64_t>(u & 0x7fffffffu);
  return (u & 0x80000000u) ? -mag : mag;
}

/// The float at position `key` of ordered_key() (-0 is never produced).
inline float float_from_key(std::int64_t key) {
  const auto mag = static_cast<std::uint32_t>(key < 0 ? -key : key);
  return std::bit_cast<float>(key < 0 ? (mag | 0x80000000u) : mag);
}

/// Number of floats between a and b: 0 when their values are equal (so
/// +0 vs -0 is 0), 1 for neighbours, counted across zero (the smallest
/// positive and negative subnormals are 2 apart), and infinities are one step
/// beyond the largest finite float. NaN: 0 if both are NaN (any payload),
/// UINT32_MAX if exactly one is.
inline std::uint32_t ulp_distance(float a, float b) {
  const bool na = std::isnan(a), nb = std::isnan(b);
  if (na || nb) return (na && nb) ? 0u : std::numeric_limits<std::uint32_t>::max();
  const std::int64_t d = ordered_key(a) - ordered_key(b);
  return static_cast<std::uint32_t>(d < 0 ? -d : d);
}

/// The float ulp at a real value: the gap between consecutive floats in the
/// binade of |exact| (2^-149 for subnormals, 2^104 at and beyond FLT_MAX).
inline double float_ulp_at(double exact) {
  const double a = std::fabs(exact);
  if (a < 0x1p-126) return 0x1p-149;
  if (a >= 0x1p+127) return 0x1p+104;
  int e = 0;
  std::frexp(a, &e);  // a = m 2^e, m in [0.5, 1): the binade is [2^(e-1), 2^e)
  return std::ldexp(1.0, e - 24);
}

/// Error of a float result against the exact (float64) value, in units of the
/// float ulp at the exact value: |got - exact| / float_ulp_at(exact).
/// A correctly rounded result scores <= 0.5. Special cases: 0 when both are
/// NaN or both are the same infinity; +inf when exactly one is NaN, when one
/// is infinite and the other not, or the infinities differ in sign. An
/// `exact` beyond the float range but finite counts as its float rounding
/// (+-inf) if |exact| >= 2^128 (1 - 2^-25), the round-to-nearest overflow point.
inline double ulp_error(float got, double exact) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  constexpr double kOverflow = 0x1p+128 * (1.0 - 0x1p-25);
  if (std::isnan(got) || std::isnan(exact)) return (std::isnan(got) && std::isnan(exact)) ? 0.0 : kInf;
  if (std::isfinite(exact) && std::fabs(exact) >= kOverflow) exact = std::copysign(kInf, exact);
  if (std::isinf(got) || std::isinf(exact)) return (static_cast<double>(got) == exact) ? 0.0 : kInf;
  return std::fabs(static_cast<double>(got) - exact) / float_ulp_at(exact);
}

/// Outcome of compare_bitwise(): what differs and where.
struct BitwiseReport {
  std::size_t count = 0;        ///< elements compared
  std::size_t differing = 0;    ///< elements whose bit patterns differ
  std::size_t first_index = 0;  ///< flat index of the first difference (valid if differing > 0)
  float first_a = 0.0f;         ///< a[first_index]
  float first_b = 0.0f;         ///< b[first_index]
  std::uint32_t max_ulp = 0;    ///< largest ulp_distance() over the differing elements
  std::size_t cols = 0;         ///< row length for (row, col) printing; 0 for flat buffers
  std::string shape_mismatch;   ///< non-empty when two matrices had different shapes

  /// True when shapes match and every bit pattern is equal.
  bool equal() const { return shape_mismatch.empty() && differing == 0; }

  /// One line for a test log, e.g.
  /// "y: 3 of 4096 elements differ; first at 17 (row 0, col 17): a=0.5 (0x3f000000)
  /// b=0.50000006 (0x3f000001), 1 ulp; max 2 ulp", or "y: 4096 elements bitwise equal".
  std::string describe(std::string_view name) const {
    std::string s(name);
    if (!shape_mismatch.empty()) return s + ": shape mismatch: " + shape_mismatch;
    if (differing == 0) return s + ": " + std::to_string(count) + " elements bitwise equal";
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  ": %zu of %zu elements differ; first at %zu", differing, count, first_index);
    s += buf;
    if (cols > 0) {
      std::snprintf(buf, sizeof buf, " (row %zu, col %zu)", first_index / cols, first_index % cols);
      s += buf;
    }
    std::snprintf(buf, sizeof buf, ": a=%.9g (0x%08x) b=%.9g (0x%08x), %u ulp; max %u ulp",
                  static_cast<double>(first_a), static_cast<unsigned>(float_bits(first_a)),
                  static_cast<double>(first_b), static_cast<unsigned>(float_bits(first_b)),
                  static_cast<unsigned>(ulp_distance(first_a, first_b)),
                  static_cast<unsigned>(max_ulp));
    return s + buf;
  }
};

/// Compare n floats by bit pattern.
inline BitwiseReport compare_bitwise(const float* a, const float* b, std::size_t n) {
  BitwiseReport r;
  r.count = n;
  for (std::size_t i = 0; i < n; ++i) {
    if (float_bits(a[i]) == float_bits(b[i])) continue;
    if (r.differing == 0) {
      r.first_index = i;
      r.first_a = a[i];
      r.first_b = b[i];
    }
    ++r.differing;
    r.max_ulp = std::max(r.max_ulp, ulp_distance(a[i], b[i]));
  }
  return r;
}

/// Compare two matrices by bit pattern; a shape mismatch is reported (and
/// makes equal() false) instead of comparing anything.
inline BitwiseReport compare_bitwise(const Matrix& a, const Matrix& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) {
    BitwiseReport r;
    r.shape_mismatch = "a is " + shape_string(a) + ", b is " + shape_string(b);
    return r;
  }
  BitwiseReport r = compare_bitwise(a.data(), b.data(), static_cast<std::size_t>(a.size()));
  r.cols = static_cast<std::size_t>(a.cols());
  return r;
}

}  // namespace atp
