/// \file numerics.hpp
/// \brief The shared numerics of the bitwise contract: elementary functions,
/// activations and the canonical reduction orders, one header for CPU and GPU.
///
/// Every function here is `ATP_HD inline`: plain inline C++ for g++, and
/// `__host__ __device__` under nvcc, so the simulator and the CUDA kernels call
/// the *same source* and (given the build flags of NUMERICS.md section 1) get
/// the same bits. The rules that make that true:
///
/// - Only `+ - * /`, `sqrt` (all correctly rounded on both sides), explicit
///   atp::fma (`std::fma` / `__fmaf_rn`) and bit manipulation. No library
///   transcendentals: glibc's `expf` and CUDA's `expf` disagree in the last bit.
/// - Every reduction has one written-down order (the comment on each function),
///   and the GPU kernels reproduce it (one warp per row for the 32-lane order).
/// - Branches depend only on the input values, never on the platform.
///
/// Polynomial coefficients were fitted by `scripts/fit_numerics.py`
/// (near-minimax relative error, coefficients rounded to float32 lowest order
/// first); re-run it to see the approximation error of each polynomial.
/// Measured accuracy (max ulp against a float64 reference over dense sweeps)
/// is quoted on each function and asserted by tests/test_numerics.cpp.
///
/// What it leaves out: vectorised variants, bf16/fp16, and `errno`/floating-
/// point exception flags (which nothing in the book reads).
#pragma once

#include <cmath>
#include <cstdint>
#if !defined(__CUDA_ARCH__)
#include <bit>
#endif

#ifndef ATP_HD
#if defined(__CUDACC__)
/// Marks a function as callable from host and device code under nvcc; empty for g++.
#define ATP_HD __host__ __device__
#else
/// Marks a function as callable from host and device code under nvcc; empty for g++.
#define ATP_HD
#endif
#endif

namespace atp {

// ---------------------------------------------------------------------------
// Bit-level helpers (not part of the public contract; used by the functions below).
// ---------------------------------------------------------------------------
namespace detail {

/// The IEEE-754 bit pattern of `x`.
ATP_HD inline std::uint32_t as_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  return std::bit_cast<std::uint32_t>(x);
#endif
}

/// The float whose IEEE-754 bit pattern is `u`.
ATP_HD inline float from_bits(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  return std::bit_cast<float>(u);
#endif
}

/// |x| by clearing the sign bit (also maps -NaN to NaN, -0 to +0).
ATP_HD inline float abs_bits(float x) { return from_bits(as_bits(x) & 0x7fffffffu); }

/// |mag| with the sign bit of `sign`.
ATP_HD inline float copysign_bits(float mag, float sign) {
  return from_bits((as_bits(mag) & 0x7fffffffu) | (as_bits(sign) & 0x80000000u));
}

/// +infinity, built from bits so no header constant is needed on the device.
ATP_HD inline float inf() { return from_bits(0x7f800000u); }

/// Round to the nearest integer (ties to even) for |t| < 2^22: adding
/// 1.5 * 2^23 pushes the fraction bits out, and the subtraction is exact.
/// Neither g++ nor nvcc reassociates this without fast-math flags.
ATP_HD inline float round_to_int(float t) {
  constexpr float kShifter = 0x1.8p+23f;
  return (t + kShifter) - kShifter;
}

/// 2^k built from exponent bits, for k in [-126, 127] (a normal float).
ATP_HD inline float pow2i(int k) {
  return from_bits(static_cast<std::uint32_t>(k + 127) << 23);
}

/// Correctly rounded square root: `__fsqrt_rn` on the device (independent of
/// -prec-sqrt), `std::sqrt(float)` on the host (IEEE-754 requires it exact).
ATP_HD inline float sqrt_rn(float x) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}

}  // namespace detail

// ---------------------------------------------------------------------------
// NaN policy (docs/numerics.md, "NaN"): every NaN a shared function returns is
// this one pattern, because the hardware's own NaNs differ (x86's invalid
// operations give 0xffc00000 and propagate an input's payload; the GPU gives
// 0x7fffffff) and bitwise comparison sees the difference.
// ---------------------------------------------------------------------------

/// The one NaN of the shared functions: the positive quiet NaN 0x7fc00000
/// (IEEE 754's recommended default NaN; sign 0, quiet bit only, payload 0).
ATP_HD inline float quiet_nan() { return detail::from_bits(0x7fc00000u); }

/// x itself, or atp::quiet_nan() when x is any NaN (any sign, payload, or signalling).
ATP_HD inline float canonical_nan(float x) { return x != x ? quiet_nan() : x; }

// ---------------------------------------------------------------------------
// Fused multiply-add: the only fma in any bitwise path goes through here.
// ---------------------------------------------------------------------------

/// a*b + c with a single rounding (IEEE-754 fusedMultiplyAdd).
/// `std::fma` on the host (a hardware instruction with -march=native, a
/// correctly rounded libm routine otherwise), `__fmaf_rn` on the device.
/// Both are exact-then-round-once, so they agree bit for bit.
ATP_HD inline float fma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

// ---------------------------------------------------------------------------
// Elementary functions.
// ---------------------------------------------------------------------------

/// e^x.
///
/// Method (Cody–Waite): k = round(x * log2 e), r = x - k ln2 with ln2 split
/// into a 16-bit-significand high part (so k * ln2_hi is exact, and
/// fma(k, -ln2_hi, x) is exact) and a float low part; then
/// e^r = 1 + r (1 + r P(r)) (two fmas) with P of degree 4 fitted on |r| <= ln2/2
/// (scripts/fit_numerics.py, approximation error 0.05 ulp); finally
/// e^x = e^r * 2^k, applied in two steps 2^(k/2) * 2^(k - k/2): the first
/// product is exact, the second rounds once, so subnormal results are rounded
/// once and 2^128 (k = 128) needs no special case.
///
/// Accuracy (4M samples each): max 0.89 ulp, mean 0.26 ulp over [-87.3, 88.72]
/// evenly spaced; max 0.84 ulp over every k-th float of that range; subnormal
/// results (x in [-103.97, -87.3]): max 0.86 subnormal ulp.
///
/// Special values: NaN -> atp::quiet_nan(); x > 88.7228317 -> +inf (so +inf -> +inf);
/// x < -104 -> +0 (so -inf -> +0); exp(+-0) = 1.
ATP_HD inline float exp(float x) {
  constexpr float kLog2e = 0x1.715476p+0f;
  constexpr float kLn2Hi = 0x1.62e400p-1f;  // 0.693145751953125, 16 significant bits
  constexpr float kLn2Lo = 0x1.7f7d1cp-20f;  // ln2 - kLn2Hi, rounded to float
  constexpr float c0 = 0x1.fffffcp-2f, c1 = 0x1.555492p-3f, c2 = 0x1.5558b0p-5f,
                  c3 = 0x1.123988p-7f, c4 = 0x1.6a4ce4p-10f;
  if (x != x) return quiet_nan();
  if (x > 89.0f) return detail::inf();  // also +inf; 88.72284 < x <= 89 overflows below
  if (x < -104.0f) return 0.0f;     // also -inf; e^x < 2^-150 rounds to +0
  const float k = detail::round_to_int(x * kLog2e);
  float r = atp::fma(k, -kLn2Hi, x);  // exact
  r = atp::fma(k, -kLn2Lo, r);
  float p = c4;
  p = atp::fma(p, r, c3);
  p = atp::fma(p, r, c2);
  p = atp::fma(p, r, c1);
  p = atp::fma(p, r, c0);
  // e^r = 1 + r (1 + r P): the last fma rounds once, with the product exact
  // inside it, so the only large rounding is the final one (0.5 ulp).
  const float er = atp::fma(r, atp::fma(r, p, 1.0f), 1.0f);  // e^r in [0.70, 1.42]
  const int ki = static_cast<int>(k);             // in [-150, 128]
  const int k1 = ki / 2;                          // in [-75, 64]
  return (er * detail::pow2i(k1)) * detail::pow2i(ki - k1);
}

namespace detail {

/// n / (1 + e) for e in [0, 1], where n = n_hi + n_lo (n_lo may be 0).
///
/// The rounding error of 1 + e is exact by Fast2Sum and the division residual
/// n - y (1 + e) is exact by fma, so both are folded back into one correction:
/// the result is within ~0.5 ulp of the exact quotient of the inputs.
/// Infinite, NaN and zero quotients are returned as they are.
ATP_HD inline float div_one_plus(float n_hi, float n_lo, float e) {
  const float d = 1.0f + e;
  const float d_lo = (1.0f - d) + e;  // exact: 1 >= e
  const float y = n_hi / d;
  if (!(abs_bits(y) < inf()) || y == 0.0f) return y;  // keeps inf, NaN and the sign of 0
  const float r = atp::fma(-y, d, n_hi) + n_lo;
  return y + atp::fma(-y, d_lo, r) / d;
}

}  // namespace detail

/// Hyperbolic tangent.
///
/// Method: |x| <= 0.625: tanh x = x + x^3 P(x^2), P of degree 5 fitted by
/// scripts/fit_numerics.py (approximation error 0.003 ulp); evaluated as
/// fma(x * x^2, P, x). 0.625 < |x| < 9.1: tanh|x| = 1 - 2 / (e^(2|x|) + 1)
/// with atp::exp, sign restored by bits. |x| >= 9.1: +-1 (tanh rounds to 1
/// in float beyond 9.0109).
///
/// Accuracy (4M samples): max 1.06 ulp, mean 0.25 ulp over [-10, 10]; the max
/// sits just above the switch at 0.625.
///
/// Special values: NaN -> atp::quiet_nan(); +-inf -> +-1; tanh(+-0) = +-0; tiny and
/// subnormal x return x (x^3 underflows).
ATP_HD inline float tanh(float x) {
  constexpr float c0 = -0x1.555554p-2f, c1 = 0x1.11107ap-3f, c2 = -0x1.b9f188p-5f,
                  c3 = 0x1.63a550p-6f, c4 = -0x1.0c5ecep-7f, c5 = 0x1.1a27fep-9f;
  if (x != x) return quiet_nan();
  const float a = detail::abs_bits(x);
  if (x == 0.0f) return x;  // +-0 (the fma below would turn -0 into +0)
  if (a <= 0.625f) {
    const float s = x * x;
    float p = c5;
    p = atp::fma(p, s, c4);
    p = atp::fma(p, s, c3);
    p = atp::fma(p, s, c2);
    p = atp::fma(p, s, c1);
    p = atp::fma(p, s, c0);
    return atp::fma(x * s, p, x);
  }
  if (a >= 9.1f) return detail::copysign_bits(1.0f, x);
  // tanh a = 1 - 2e / (1 + e), e = e^(-2a) < 0.29: the quotient is computed
  // with compensated rounding, so only exp's error and the final subtraction remain.
  const float e = atp::exp(-2.0f * a);
  return detail::copysign_bits(1.0f - 2.0f * detail::div_one_plus(e, 0.0f, e), x);
}

namespace detail {

/// erf(x) = x + x P(x^2) for |x| < 0.921875; P of degree 6 fitted by
/// scripts/fit_numerics.py (approximation error 0.015 ulp).
ATP_HD inline float erf_small(float x) {
  constexpr float c0 = 0x1.06eba8p-3f, c1 = -0x1.812740p-2f, c2 = 0x1.ce2d64p-4f,
                  c3 = -0x1.b80114p-6f, c4 = 0x1.54497cp-8f, c5 = -0x1.a60048p-11f,
                  c6 = 0x1.4f35e4p-14f;
  const float s = x * x;
  float p = c6;
  p = atp::fma(p, s, c5);
  p = atp::fma(p, s, c4);
  p = atp::fma(p, s, c3);
  p = atp::fma(p, s, c2);
  p = atp::fma(p, s, c1);
  p = atp::fma(p, s, c0);
  return atp::fma(x, p, x);
}

/// erfc(a + a_lo) for a >= 0, where a_lo is an optional tail (|a_lo| <= ulp(a)/2)
/// carrying the rounding error of a computed argument (atp::gelu_erf passes
/// the tail of x / sqrt(2); erf passes 0).
///
/// a < 0.5: 1 - erf_small(a) (erfc >= 0.48, so no cancellation to speak of).
/// 0.5 <= a <= 10.0546875: erfc(a) = e^(-a^2) (1 + P(q)) / (1 + 2a),
/// q = (a - 2) / (a + 2), P of degree 12 fitted by scripts/fit_numerics.py
/// (approximation error 0.11 ulp). The substitution q maps [0, inf) onto
/// [-1, 1) so one polynomial covers the whole tail. e^(-a^2) is computed as
/// e^(-s) (1 - s_lo) with s + s_lo = a^2 (+ 2 a a_lo) to float-float accuracy
/// (fma gives the rounding error of a*a exactly): rounding a^2 to float alone
/// would cost up to a^2/2 ulp (50 ulp at a = 10).
/// a > 10.0546875: +0 (erfc < 2^-150). NaN -> atp::quiet_nan().
ATP_HD inline float erfc_pos(float a, float a_lo) {
  constexpr float c0 = 0x1.1ba038p-2f, c1 = -0x1.7bf5ecp-4f, c2 = -0x1.54075cp-3f,
                  c3 = 0x1.4ffa38p-3f, c4 = -0x1.bc425ep-5f, c5 = -0x1.077660p-7f,
                  c6 = 0x1.1fa642p-7f, c7 = 0x1.5a26cap-10f, c8 = -0x1.9a157ep-10f,
                  c9 = -0x1.359464p-11f, c10 = 0x1.f8bb04p-13f, c11 = 0x1.0fb0aep-12f,
                  c12 = 0x1.0c424ep-14f;
  if (a != a) return quiet_nan();
  if (a < 0.5f) return 1.0f - erf_small(a);
  if (a > 10.0546875f) return 0.0f;
  const float q = (a - 2.0f) / (a + 2.0f);
  float p = c12;
  p = atp::fma(p, q, c11);
  p = atp::fma(p, q, c10);
  p = atp::fma(p, q, c9);
  p = atp::fma(p, q, c8);
  p = atp::fma(p, q, c7);
  p = atp::fma(p, q, c6);
  p = atp::fma(p, q, c5);
  p = atp::fma(p, q, c4);
  p = atp::fma(p, q, c3);
  p = atp::fma(p, q, c2);
  p = atp::fma(p, q, c1);
  p = atp::fma(p, q, c0);
  // g = (1 + p) / (1 + 2a) = e^(a^2) erfc(a), carried as g0 + g_lo: the
  // rounding errors of 1 + p, of 1 + 2a and of the division are each exactly
  // representable (Fast2Sum, fma), so they are folded back instead of
  // accumulating to ~2 ulp.
  const float num = 1.0f + p;                                     // p in [0, 0.13]
  const float num_lo = (1.0f - num) + p;                          // exact
  const float den = atp::fma(2.0f, a, 1.0f);                      // in [2, 21.2]
  const float den_lo = atp::fma(2.0f, a, -(den - 1.0f));          // exact
  const float g0 = num / den;
  const float g_res = atp::fma(-g0, den, num) + atp::fma(-g0, den_lo, num_lo);
  // g also moves with the argument tail: dg/da = 2a g - 2/sqrt(pi).
  const float g_lo = atp::fma(a_lo, atp::fma(2.0f * a, g0, -0x1.20dd76p+0f), g_res / den);
  // e^(-(a + a_lo)^2) = e^(-s) (1 - s_lo) with s + s_lo = a^2 + 2 a a_lo.
  const float s = a * a;
  const float s_lo = atp::fma(2.0f * a, a_lo, atp::fma(a, a, -s));
  const float e = atp::exp(-s);
  // (g0 + g_lo) e (1 - s_lo) = g0 e + e (g_lo - g0 s_lo), one final rounding.
  return atp::fma(g0, e, e * atp::fma(-g0, s_lo, g_lo));
}

}  // namespace detail

/// The error function erf(x) = 2/sqrt(pi) * integral_0^x e^(-t^2) dt.
///
/// Method: |x| < 0.921875: x + x P(x^2) (degree 6). 0.921875 <= |x| < 4:
/// 1 - erfc(|x|) with the erfc of detail::erfc_pos (erfc <= 0.19 there, so
/// its few-ulp error shrinks by 4x or more), sign restored by bits.
/// |x| >= 4: +-1 (erf rounds to 1 in float beyond 3.9192).
///
/// Accuracy (4M samples): max 0.83 ulp, mean 0.21 ulp over [-5, 5].
///
/// Special values: NaN -> atp::quiet_nan(); +-inf -> +-1; erf(+-0) = +-0; subnormal x
/// gives the correctly rounded 2x/sqrt(pi) (one fma).
ATP_HD inline float erf(float x) {
  if (x != x) return quiet_nan();
  const float a = detail::abs_bits(x);
  if (a < 0.921875f) return detail::erf_small(x);
  if (a >= 4.0f) return detail::copysign_bits(1.0f, x);
  return detail::copysign_bits(1.0f - detail::erfc_pos(a, 0.0f), x);
}

namespace detail {

/// x * sigmoid(v + v_lo) without cancellation, overflow, or inf/inf, where
/// v_lo is the rounding tail of a computed v (0 if v is exact).
///
/// With e = exp(-|v|) (1 -+ v_lo) in [0, 1]: v >= 0: x / (1 + e);
/// v < 0: (x e) / (1 + e), with x e carried exactly as a float pair.
/// exp never sees a positive argument, so nothing overflows; for v < 0 the
/// tiny e carries the result's magnitude instead of a huge 1 + e^(-v).
/// If e underflows to 0 the result is x (v > 0) or a signed zero (v < 0; x * 0
/// would be NaN for x = -inf), and v_lo is never touched (it may be NaN when
/// v overflowed).
ATP_HD inline float x_sigmoid(float x, float v, float v_lo) {
  const float a = abs_bits(v);
  const float e0 = atp::exp(-a);
  if (e0 == 0.0f) return v >= 0.0f ? x : copysign_bits(0.0f, x);
  const float a_lo = v >= 0.0f ? v_lo : -v_lo;    // |v + v_lo| = a + a_lo
  const float e = atp::fma(-a_lo, e0, e0);        // e^(-a) (1 - a_lo)
  if (v >= 0.0f) return div_one_plus(x, 0.0f, e);
  // Numerator x e^(-a) (1 - a_lo) as a float pair, so that the rounding of e
  // does not reach the result (it still enters 1 + e, damped by e / (1 + e)).
  const float xe = x * e0;
  return div_one_plus(xe, atp::fma(-a_lo, xe, atp::fma(x, e0, -xe)), e);
}

}  // namespace detail

/// The logistic function 1 / (1 + e^(-x)).
///
/// Method: e = atp::exp(-|x|); x >= 0: 1 / (1 + e); x < 0: e / (1 + e), each
/// division by detail::div_one_plus (rounding of 1 + e and of the quotient
/// compensated), so the error is essentially exp's plus one rounding.
/// The split keeps exp's argument <= 0, so there is no overflow and no
/// inf/inf, and very negative x keeps full relative accuracy (the result is
/// e^x, down into the subnormals).
///
/// Accuracy (4M samples): max 1.44 ulp, mean 0.29 ulp over [-20, 20]; max
/// 0.87 ulp over [-103, -20].
///
/// Special values: NaN -> atp::quiet_nan(); +inf -> 1; -inf -> +0; sigmoid(+-0) = 0.5;
/// x < -103.98 -> +0.
ATP_HD inline float sigmoid(float x) {
  if (x != x) return quiet_nan();
  const float e = atp::exp(-detail::abs_bits(x));
  return detail::div_one_plus(x >= 0.0f ? 1.0f : e, 0.0f, e);
}

/// SiLU / swish: x * sigmoid(x), computed as one expression per sign
/// (detail::x_sigmoid): x >= 0: x / (1 + e^(-x)); x < 0: (x e^x) / (1 + e^x).
/// Chosen over `x * sigmoid(x)` because it rounds once less for x >= 0 and
/// never forms inf/inf.
///
/// Accuracy (4M samples): max 1.59 ulp, mean 0.29 ulp over [-20, 20]; max
/// 1.61 ulp over [-87, -20]. For x < -87.3 the factor e^x is subnormal and the
/// relative accuracy degrades (results below 2^-119).
///
/// Special values: NaN -> atp::quiet_nan(); +inf -> +inf; -inf -> -0; silu(+-0) = +-0.
ATP_HD inline float silu(float x) { return x != x ? quiet_nan() : detail::x_sigmoid(x, x, 0.0f); }

/// GELU, tanh approximation (PyTorch `approximate="tanh"`, GPT-2):
/// 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
///
/// Evaluated as the identical x * sigmoid(2u), because 0.5 x (1 + tanh u)
/// cancels catastrophically for negative x: at x = -5, 1 + tanh(u) ~ 1e-7 is
/// the difference of two numbers near 1, so every bit of the float result
/// would be rounding noise. In the sigmoid form the small factor e^(2u) is
/// computed directly.
///
/// Exactly: v = 2u = x (C1 + C2 x^2) with C1 = 2 sqrt(2/pi) and
/// C2 = 0.044715 C1, each a float plus a float tail. v is evaluated as a
/// float pair v + v_lo (x^2 and C2 x^2 split exactly by fma, C1 + C2 x^2 by
/// TwoSum, x w by fma), because e^v turns a relative error d of v into a
/// relative error |v| d of the result: plain float v costs ~|v| ulp (~200 ulp
/// at x = -10). Then detail::x_sigmoid(x, v, v_lo): x / (1 + e^(-v)) for
/// v >= 0 and (x e^v) / (1 + e^v) for v < 0.
///
/// Accuracy (4M samples): max 1.07 ulp over [0, 10], 1.61 ulp over [-10, 0].
///
/// Special values: NaN -> atp::quiet_nan(); +inf -> +inf; -inf -> -0; gelu_tanh(+-0) = +-0;
/// below x ~ -10, e^v is subnormal and the relative accuracy degrades; results
/// that underflow give -0.
ATP_HD inline float gelu_tanh(float x) {
  constexpr float kC1 = 0x1.988454p+0f, kC1Lo = -0x1.857936p-25f;  // 2 sqrt(2/pi)
  constexpr float kC2 = 0x1.2444f2p-4f, kC2Lo = 0x1.49b16ap-29f;   // 0.044715 * 2 sqrt(2/pi)
  if (x != x) return quiet_nan();
  const float s = x * x;
  const float s_lo = atp::fma(x, x, -s);
  const float p = kC2 * s;
  const float p_lo = atp::fma(kC2, s, -p);
  const float w = kC1 + p;  // TwoSum(kC1, p): w + w_err = kC1 + p exactly
  const float bb = w - kC1;
  const float w_err = (kC1 - (w - bb)) + (p - bb);
  const float w_lo = w_err + (p_lo + atp::fma(kC2, s_lo, atp::fma(kC2Lo, s, kC1Lo)));
  const float v = x * w;
  const float v_lo = atp::fma(x, w_lo, atp::fma(x, w, -v));
  return detail::x_sigmoid(x, v, v_lo);
}

/// GELU, exact form (PyTorch default): 0.5 x (1 + erf(x / sqrt 2)).
///
/// Method: t = x / sqrt2 as t = x * float(1/sqrt2) with its rounding tail
/// t_lo = fma(x, hi, -t) + x * lo. x >= 0: y = 1 + erf(t) (no cancellation,
/// y in [1, 2]). x < 0: y = erfc(|t|) from detail::erfc_pos(-t, -t_lo),
/// because 1 + erf(t) would cancel (at x = -3, 1 + erf = 0.0027 would keep
/// only ~15 correct bits); the tail keeps e^(-t^2) accurate for large |t|.
/// Result: x * (0.5 y) (0.5 y is exact while y >= 2^-125, i.e. x > -13.2).
///
/// Accuracy (4M samples): max 1.59 ulp over [0, 10], 2.46 ulp over
/// [-12.5, 10]. Below -12.5 erfc(|t|) nears the subnormal range and the error
/// grows (max 7.8 ulp over [-14.2, -12.5], results below 1e-36).
///
/// Special values: NaN -> atp::quiet_nan(); +inf -> +inf; -inf -> -0; x < -14.2 -> -0
/// (erfc underflows); gelu_erf(+-0) = +-0.
ATP_HD inline float gelu_erf(float x) {
  constexpr float kHi = 0x1.6a09e6p-1f;   // float(1/sqrt 2)
  constexpr float kLo = 0x1.9fcef4p-27f;  // 1/sqrt 2 - kHi
  const float t = x * kHi;
  if (x >= 0.0f) return x * (0.5f * (1.0f + atp::erf(t)));  // 0.5 y exact, no overflow
  if (x != x) return quiet_nan();
  const float t_lo = atp::fma(x, kLo, atp::fma(x, kHi, -t));
  const float y = detail::erfc_pos(-t, -t_lo);
  if (y == 0.0f) return -0.0f;  // also x = -inf, where x * 0 would be NaN
  return (x * y) * 0.5f;        // |x y| <= |x|; 0.5 y could be subnormal, x y is not
}

// ---------------------------------------------------------------------------
// Canonical reduction orders (NUMERICS.md section 2).
// ---------------------------------------------------------------------------

/// Dot product in the default order: acc = 0; for k = 0..n-1 ascending:
/// acc = fma(a[k], b[k], acc). Every matmul element in the book is this.
/// n <= 0 returns +0.
ATP_HD inline float dot(const float* a, const float* b, int n) {
  float acc = 0.0f;
  for (int k = 0; k < n; ++k) acc = atp::fma(a[k], b[k], acc);
  return acc;
}

/// Dot product of a[k * sa] and b[k * sb], same order as atp::dot
/// (a column of a row-major matrix has stride = its column count).
ATP_HD inline float dot_strided(const float* a, int sa, const float* b, int sb, int n) {
  float acc = 0.0f;
  for (int k = 0; k < n; ++k)
    acc = atp::fma(a[static_cast<long long>(k) * sa], b[static_cast<long long>(k) * sb], acc);
  return acc;
}

/// Lanes per row in the 32-lane reduction order: one CUDA warp.
constexpr int kLanes = 32;

/// The warp tree that combines 32 lane partials: for off = 16, 8, 4, 2, 1:
/// v[l] = v[l] + v[l + off] for l < off; returns v[0]. This is exactly what
/// `v += __shfl_down_sync(~0u, v, off)` computes in lane 0. Overwrites v.
ATP_HD inline float lane_tree_sum(float (&v)[kLanes]) {
  for (int off = kLanes / 2; off >= 1; off /= 2)
    for (int l = 0; l < off; ++l) v[l] = v[l] + v[l + off];
  return v[0];
}

/// Row sum in the 32-lane order: lane l accumulates acc = 0; acc = acc + x[i]
/// for i = l, l+32, l+64, ... < n ascending; then atp::lane_tree_sum.
/// n <= 0 returns +0.
ATP_HD inline float row_sum_lane32(const float* x, int n) {
  float v[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    float acc = 0.0f;
    for (int i = l; i < n; i += kLanes) acc = acc + x[i];
    v[l] = acc;
  }
  return lane_tree_sum(v);
}

/// Sum of squared deviations in the 32-lane order: lane l: acc = 0;
/// d = x[i] - mean; acc = fma(d, d, acc) for i = l, l+32, ... ascending;
/// then atp::lane_tree_sum. With mean = 0 this is the RMSNorm sum of squares.
ATP_HD inline float row_sum_sq_dev_lane32(const float* x, int n, float mean) {
  float v[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    float acc = 0.0f;
    for (int i = l; i < n; i += kLanes) {
      const float d = x[i] - mean;
      acc = atp::fma(d, d, acc);
    }
    v[l] = acc;
  }
  return lane_tree_sum(v);
}

/// max(a, b) that is commutative and associative, so any reduction order
/// (sequential on the CPU, a shuffle tree on the GPU) gives the same bits:
/// atp::quiet_nan() if either is NaN; max(-0, +0) = +0
/// (`a > b ? a : b` alone would return whichever came second).
/// Not in the original API list: GPU max-reductions need the same tie rules.
ATP_HD inline float max_nan(float a, float b) {
  if (a != a || b != b) return quiet_nan();
  if (a > b) return a;
  if (b > a) return b;
  return a == 0.0f ? a + b : a;  // equal: only +-0 can differ in bits; -0 + +0 = +0
}

/// Maximum of x[0..n-1] by atp::max_nan from -inf: atp::quiet_nan() if any element is NaN,
/// +0 if the maximum is a zero and any zero is +0. Any order gives these bits.
/// n <= 0 returns -inf.
ATP_HD inline float row_max(const float* x, int n) {
  float m = -detail::inf();
  for (int i = 0; i < n; ++i) m = max_nan(m, x[i]);
  return m;
}

// ---------------------------------------------------------------------------
// Elementwise epilogues and row operations.
// ---------------------------------------------------------------------------

/// LayerNorm reciprocal standard deviation: 1.0f / sqrt(sum_sq_dev / n + eps),
/// each operation rounded separately (float(n) is exact for n < 2^24); a NaN
/// result is atp::quiet_nan().
ATP_HD inline float layernorm_rstd(float sum_sq_dev, int n, float eps) {
  return canonical_nan(1.0f / detail::sqrt_rn(sum_sq_dev / static_cast<float>(n) + eps));
}

/// LayerNorm output element: fma((x - mean) * rstd, gamma, beta); a NaN
/// result (a NaN or infinite element in the row) is atp::quiet_nan().
ATP_HD inline float layernorm_epilogue(float x, float mean, float rstd, float gamma, float beta) {
  return canonical_nan(atp::fma((x - mean) * rstd, gamma, beta));
}

/// RMSNorm reciprocal root mean square: 1.0f / sqrt(sum_sq / n + eps); a NaN
/// result is atp::quiet_nan().
ATP_HD inline float rmsnorm_rstd(float sum_sq, int n, float eps) {
  return canonical_nan(1.0f / detail::sqrt_rn(sum_sq / static_cast<float>(n) + eps));
}

/// RMSNorm output element: (x * rstd) * gamma; a NaN result is atp::quiet_nan().
ATP_HD inline float rmsnorm_epilogue(float x, float rstd, float gamma) { return canonical_nan((x * rstd) * gamma); }

/// Softmax numerator: e^(x - m) with m the row's maximum (atp::row_max), and
/// +0 for every element of a fully masked row (m = -inf, so every x is -inf),
/// where x - m would be -inf - -inf = NaN.
ATP_HD inline float softmax_exp(float x, float m) { return m == -detail::inf() ? 0.0f : atp::exp(x - m); }

/// Softmax output element: e / sum (one correctly rounded division); +0 when
/// sum is 0, which happens only for a fully masked row (any other row has its
/// maximum's e^0 = 1 in the sum); a NaN result is atp::quiet_nan().
ATP_HD inline float softmax_epilogue(float e, float sum) { return sum == 0.0f ? 0.0f : canonical_nan(e / sum); }

/// Softmax of one row of n >= 1 elements; y may alias x.
///
/// Order: m = atp::row_max(x); y[i] = atp::softmax_exp(x[i], m) (i ascending);
/// s = atp::row_sum_lane32(y); y[i] = atp::softmax_epilogue(y[i], s).
///
/// Special rows (docs/numerics.md, "NaN"): all -inf (a fully masked row)
/// gives +0 everywhere, as the math backend of PyTorch's
/// scaled_dot_product_attention does (aten/src/ATen/native/transformers/
/// attention.cpp, _safe_softmax) and plain torch.softmax does not (it gives
/// NaN); a row containing +inf or NaN
/// gives atp::quiet_nan() everywhere. Masked entries (-inf) of a row with a
/// finite max give +0.
ATP_HD inline void softmax_row(const float* x, float* y, int n) {
  const float m = row_max(x, n);
  for (int i = 0; i < n; ++i) y[i] = atp::softmax_exp(x[i], m);
  const float s = row_sum_lane32(y, n);
  for (int i = 0; i < n; ++i) y[i] = softmax_epilogue(y[i], s);
}

/// LayerNorm of one row of n >= 1 elements (biased variance, as PyTorch);
/// y may alias x.
///
/// Order: mean = atp::row_sum_lane32(x) / n;
/// sq = atp::row_sum_sq_dev_lane32(x, n, mean);
/// rstd = atp::layernorm_rstd(sq, n, eps);
/// y[i] = atp::layernorm_epilogue(x[i], mean, rstd, gamma[i], beta[i]).
ATP_HD inline void layernorm_row(const float* x, const float* gamma, const float* beta, float eps,
                                 float* y, int n) {
  const float mean = row_sum_lane32(x, n) / static_cast<float>(n);
  const float sq = row_sum_sq_dev_lane32(x, n, mean);
  const float rstd = layernorm_rstd(sq, n, eps);
  for (int i = 0; i < n; ++i) y[i] = layernorm_epilogue(x[i], mean, rstd, gamma[i], beta[i]);
}

/// RMSNorm of one row of n >= 1 elements; y may alias x.
///
/// Order: sq = atp::row_sum_sq_dev_lane32(x, n, 0.0f) (lane acc = fma(x, x, acc));
/// rstd = atp::rmsnorm_rstd(sq, n, eps); y[i] = atp::rmsnorm_epilogue(x[i], rstd, gamma[i]).
ATP_HD inline void rmsnorm_row(const float* x, const float* gamma, float eps, float* y, int n) {
  const float sq = row_sum_sq_dev_lane32(x, n, 0.0f);
  const float rstd = rmsnorm_rstd(sq, n, eps);
  for (int i = 0; i < n; ++i) y[i] = rmsnorm_epilogue(x[i], rstd, gamma[i]);
}

}  // namespace atp
