/// \file log.hpp
/// \brief atp::log, the natural logarithm of the bitwise path (host and
///        device), for the log-softmax of chapter 11.
///
/// Built like the functions of numerics.hpp, from `+ - * /`, explicit
/// atp::fma and bit manipulation only, so the CPU and the GPU get the same
/// bits (glibc's `logf` and CUDA's `logf` are each accurate, and differ).
///
/// Method: x = 2^e m with m in [sqrt(2)/2, sqrt(2)) (exponent and significand
/// bits; subnormals are first scaled by 2^23, exactly). With f = m - 1
/// (exact, Sterbenz) and s = f / (2 + f), |s| <= 0.1716,
/// log m = 2 atanh(s) = 2 s + s r (2/3 + r (2/5 + r (2/7 + r 2/9))), r = s^2
/// (the first omitted term is below 2^-28 relative), evaluated as
/// f - (h - s (h + r q)) with h = f^2 / 2, so that f itself enters exactly;
/// then log x = e ln2_hi + (log m + e ln2_lo), ln2 split so e ln2_hi is exact.
/// Accuracy, asserted by tests/test_ch11_invariant.cpp against a float64
/// log over a dense sweep: below 1 ulp (0.92 measured near 1, 0.89 over every
/// 97th positive float).
///
/// Special values: NaN and x < 0 -> atp::quiet_nan(); +-0 -> -inf; +inf -> +inf;
/// log(1) = +0. Leaves out: log2, log1p, vectorised forms.
#pragma once

#include "atp/numerics.hpp"

#include <cstdint>

namespace atp {

/// The natural logarithm; see the file comment for method, accuracy and special values.
ATP_HD inline float log(float x) {
  constexpr float kLn2Hi = 0x1.62e400p-1f;  // 16 significant bits: e * kLn2Hi is exact for |e| < 256
  constexpr float kLn2Lo = 0x1.7f7d1cp-20f;  // ln2 - kLn2Hi
  constexpr float kTwoThirds = 0x1.555556p-1f, kTwoFifths = 0x1.99999ap-2f, kTwoSevenths = 0x1.24924ap-2f,
                  kTwoNinths = 0x1.c71c72p-3f;
  if (x != x || x < 0.0f) return quiet_nan();  // the book's one NaN (docs/numerics.md section 5)
  if (x == 0.0f) return -detail::inf();
  if (x == detail::inf()) return x;
  int e = 0;
  if (x < 0x1p-126f) {  // subnormal: scale into the normal range, exactly
    x = x * 0x1p23f;
    e = -23;
  }
  const std::uint32_t bits = detail::as_bits(x);
  e += static_cast<int>(bits >> 23) - 127;
  // Significand in [1, 2); above sqrt(2) (bits 0x3fb504f3) halve it so m is centred on 1.
  std::uint32_t mbits = (bits & 0x007fffffu) | 0x3f800000u;
  if (mbits > 0x3fb504f3u) {
    mbits -= 0x00800000u;  // m / 2, exactly
    e += 1;
  }
  const float f = detail::from_bits(mbits) - 1.0f;  // exact (Sterbenz)
  const float s = f / (2.0f + f);
  const float r = s * s;
  float q = kTwoNinths;
  q = atp::fma(q, r, kTwoSevenths);
  q = atp::fma(q, r, kTwoFifths);
  q = atp::fma(q, r, kTwoThirds);
  // log(1 + f) = 2 s + s r q, with 2 s = f - s f rewritten as f - (h - s h), h = f^2 / 2:
  // the large term f enters exactly and only the small correction carries rounding.
  const float h = 0.5f * (f * f);
  const float log_m = f - (h - s * (h + r * q));
  if (e == 0) return log_m;
  const float fe = static_cast<float>(e);
  return atp::fma(fe, kLn2Hi, atp::fma(fe, kLn2Lo, log_m));
}

}  // namespace atp
