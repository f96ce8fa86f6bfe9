/// \file rotary.hpp
/// \brief Rotary position embeddings (RoPE) inside the bitwise contract: the
/// inverse frequencies, sin and cos, and the rotation of one pair, one header
/// for the CPU simulator and the CUDA kernels (chapter 7).
///
/// Letters: d = head_dim, i = frequency index in [0, d/2), pos = token
/// position, theta = the base (10000 for Llama 2 and llama2.c checkpoints).
///
///     inv_freq(i)   = theta^(-2i/d)                       rope_inv_freq()
///     angle(pos, i) = float(pos) * inv_freq(i)            one rounding
///     c, s          = cos(angle), sin(angle)              atp::sincos()
///     (y0, y1)      = (x0 c - x1 s, x0 s + x1 c)          rope_rotate_pair()
///
/// on the pair (2i, 2i+1) of each head (llama2.c, Meta's reference code,
/// vLLM's is_neox_style=False) or (i, i + d/2) (Hugging Face's rotate_half,
/// vLLM's is_neox_style=True): RopeStyle.
///
/// The rules of numerics.hpp hold here too: only `+ - * /`, sqrt, explicit
/// atp::fma and bit manipulation, every function `ATP_HD inline`, so a GPU
/// kernel and the simulator compute the same bits. No powf, logf, sinf or
/// cosf: glibc's and CUDA's differ in the last bit.
///
/// How theta^(-2i/d) is computed without powf: ln(theta) as a float pair
/// (detail::log_pair, accurate to ~2^-40 absolute), then a = 2i ln(theta) / d
/// as a float pair (exact products by fma, the division's remainder by fma),
/// then e^-a = atp::exp(-a_hi) (1 - a_lo). Only exp's own error and two
/// roundings remain. sin and cos share one argument reduction: k = nearest
/// integer to x 2/pi, r = x - k pi/2 as a float pair with pi/2 split into
/// three floats (the first step is exact by construction), then short
/// polynomials (fitted by scripts/fit_numerics.py) on |r| <= pi/4.
///
/// Accuracy, measured by tests/test_rotary.cpp against float64 and asserted
/// there with the bounds quoted in chapters/07-tensor-parallel-decoder/README.md:
/// see that README's "RoPE in the bitwise contract" table (printed by
/// `atp-ch07-tensor-parallel-decoder --rope-accuracy`).
///
/// Kept in its own header, apart from numerics.hpp, so that the two can be
/// edited independently. Leaves out: RoPE scaling variants (linear, NTK,
/// YaRN, Llama 3's frequency bands), partial rotary dimensions, and angles
/// beyond |x| = 2^20 (atp::sincos returns NaN past 2^22 and is only
/// accurate up to 2^20; the decoder refuses positions that would get there).
#pragma once

#include "atp/numerics.hpp"

namespace atp {

/// Which elements of a head form the rotated pairs.
enum class RopeStyle : int {
  Interleaved,  ///< pairs (2i, 2i+1): llama2.c, Meta's Llama code, vLLM is_neox_style=False
  Halves        ///< pairs (i, i + d/2): Hugging Face rotate_half, vLLM is_neox_style=True
};

/// "interleaved" or "halves", the spelling of --rope-style and of checkpoint metadata.
inline const char* rope_style_name(RopeStyle style) {
  return style == RopeStyle::Interleaved ? "interleaved" : "halves";
}

namespace detail {

/// An unevaluated sum hi + lo of two floats, |lo| <= ulp(hi) / 2 once normalised.
struct FloatPair {
  float hi;  ///< the leading part
  float lo;  ///< the tail
};

/// a + b = s + e exactly for any a, b (Knuth's TwoSum, six operations).
ATP_HD inline FloatPair two_sum(float a, float b) {
  const float s = a + b;
  const float bb = s - a;
  return {s, (a - (s - bb)) + (b - bb)};
}

/// a + b = s + e exactly when |a| >= |b| or a = 0 (Dekker's Fast2Sum).
ATP_HD inline FloatPair fast_two_sum(float a, float b) {
  const float s = a + b;
  return {s, b - (s - a)};
}

/// a * b = p + e exactly (fma gives the rounding error of the product).
ATP_HD inline FloatPair two_prod(float a, float b) {
  const float p = a * b;
  return {p, atp::fma(a, b, -p)};
}

/// ln(x) as a float pair for a positive normal finite x, absolute error
/// below ~2^-40 |ln x| + 2^-45 (not part of the public contract: rope_inv_freq
/// needs ln(theta) more accurately than a float holds).
///
/// Method: x = 2^k m with m in [sqrt(1/2), sqrt(2)); f = m - 1 (exact,
/// Sterbenz); ln m = 2 atanh(s), s = f / (2 + f) carried as a pair;
/// ln m = 2s + s^3 Q(s^2) with Q the Taylor series 2/3 + 2z/5 + ... + 2z^5/13
/// (|s| <= 0.1716, so z <= 0.0295 and the first omitted term is below 2^-33
/// of the sum); ln x = k ln2_hi (exact: ln2_hi has 16 significant bits) +
/// k ln2_lo + 2s + the small terms, summed with TwoSum.
ATP_HD inline FloatPair log_pair(float x) {
  constexpr float kLn2Hi = 0x1.62e400p-1f;  // 16 significant bits: k * kLn2Hi is exact for |k| < 256
  constexpr float kLn2Lo = 0x1.7f7d1cp-20f;
  constexpr float kSqrt2 = 0x1.6a09e6p+0f;
  const unsigned bits = as_bits(x);
  int k = static_cast<int>((bits >> 23) & 0xffu) - 127;
  float m = from_bits((bits & 0x007fffffu) | 0x3f800000u);  // in [1, 2)
  if (m > kSqrt2) {
    m = m * 0.5f;  // exact
    k = k + 1;
  }
  const float f = m - 1.0f;  // exact (Sterbenz: m in [0.5, 2])
  const FloatPair den = fast_two_sum(2.0f, f);
  const float s = f / den.hi;
  const float s_lo = (atp::fma(-s, den.hi, f) - s * den.lo) / den.hi;
  const float z = s * s;
  float q = 0x1.3b13b2p-3f;               // 2/13
  q = atp::fma(q, z, 0x1.745d18p-3f);      // 2/11
  q = atp::fma(q, z, 0x1.c71c72p-3f);      // 2/9
  q = atp::fma(q, z, 0x1.24924ap-2f);      // 2/7
  q = atp::fma(q, z, 0x1.99999ap-2f);      // 2/5
  q = atp::fma(q, z, 0x1.555556p-1f);      // 2/3
  const float small = atp::fma(s * z, q, 2.0f * s_lo);  // 2 s_lo + s^3 Q(z)
  const float kf = static_cast<float>(k);
  const FloatPair head = two_sum(kf * kLn2Hi, 2.0f * s);
  return fast_two_sum(head.hi, head.lo + atp::fma(kf, kLn2Lo, small));
}

}  // namespace detail

/// theta^(-2i/d): the inverse frequency of pair i of a head of size d.
///
/// Requires d >= 2 even, 0 <= i < d/2, theta > 1 finite (the decoder's
/// configuration checks these). Method in the file comment; i = 0 gives 1
/// exactly. Accuracy: tests/test_rotary.cpp ("rope_inv_freq").
ATP_HD inline float rope_inv_freq(int i, int head_dim, float theta) {
  if (i == 0) return 1.0f;
  const detail::FloatPair ln = detail::log_pair(theta);
  const float n = static_cast<float>(2 * i);  // exact
  const detail::FloatPair prod = detail::two_prod(n, ln.hi);
  const float prod_lo = atp::fma(n, ln.lo, prod.lo);
  const float dd = static_cast<float>(head_dim);
  const float a = prod.hi / dd;
  const float a_lo = (atp::fma(-a, dd, prod.hi) + prod_lo) / dd;  // remainder exact by fma
  const float e = atp::exp(-a);
  return atp::fma(-a_lo, e, e);  // e^-(a + a_lo) = e^-a (1 - a_lo)
}

/// The rotation angle of pair i at position pos: float(pos) * inv_freq,
/// one rounding (float(pos) is exact for pos < 2^24).
ATP_HD inline float rope_angle(int pos, float inv_freq) { return static_cast<float>(pos) * inv_freq; }

/// sin(x) and cos(x) with one shared argument reduction.
///
/// Method: k = round(x * 2/pi); r = x - k pi/2 as a float pair
/// (pi/2 = P1 + P2 + P3, three floats; fma(-k, P1, x) is exact because the
/// result is a multiple of ulp(x) below 1 in magnitude; k P2 is split exactly
/// by fma; the rest is summed with TwoSum), so r keeps its relative accuracy
/// even next to a multiple of pi/2. Then on |r| <= pi/4:
/// sin r = r + r^3 S(r^2), cos r = 1 - r^2/2 + r^4 C(r^2) (S, C of degree 3,
/// approximation error below 0.003 ulp), with the tail of r and of r^2
/// folded in, and the quadrant k mod 4 picks and signs the results.
///
/// Domain: accurate for |x| <= 2^20; NaN for NaN, +-inf and |x| > 2^22.
/// sin(+-0) = +-0, cos(+-0) = 1. Accuracy: tests/test_rotary.cpp ("sincos").
ATP_HD inline void sincos(float x, float* sin_out, float* cos_out) {
  constexpr float kTwoOverPi = 0x1.45f306p-1f;
  constexpr float kP1 = 0x1.921fb6p+0f, kP2 = -0x1.777a5cp-25f, kP3 = -0x1.ee59dap-50f;
  constexpr float s0 = -0x1.555556p-3f, s1 = 0x1.111174p-7f, s2 = -0x1.a05958p-13f, s3 = 0x1.7c2e54p-19f;
  constexpr float c0 = 0x1.555556p-5f, c1 = -0x1.6c175ep-10f, c2 = 0x1.a071bep-16f, c3 = -0x1.361852p-22f;
  if (!(detail::abs_bits(x) <= 0x1.0p+22f)) {  // NaN, inf, or outside the reduction's range
    const float nan = detail::from_bits(0x7fc00000u);
    *sin_out = nan;
    *cos_out = nan;
    return;
  }
  if (x == 0.0f) {  // keeps the sign of zero for sin
    *sin_out = x;
    *cos_out = 1.0f;
    return;
  }
  const float k = detail::round_to_int(x * kTwoOverPi);
  const float r1 = atp::fma(-k, kP1, x);  // exact
  const detail::FloatPair t = detail::two_prod(k, kP2);
  const detail::FloatPair u = detail::two_sum(r1, -t.hi);
  const detail::FloatPair r = detail::fast_two_sum(u.hi, (u.lo - t.lo) - k * kP3);
  // z + z_lo = r^2 (r = r.hi + r.lo), to a few ulp of z_lo.
  const float z = r.hi * r.hi;
  const float z_lo = atp::fma(r.hi, r.hi, -z) + 2.0f * r.hi * r.lo;
  float ps = s3;
  ps = atp::fma(ps, z, s2);
  ps = atp::fma(ps, z, s1);
  ps = atp::fma(ps, z, s0);
  // sin(r + r_lo) = r + r^3 S + r_lo (1 - r^2/2) + ...
  const float sin_r = r.hi + atp::fma(r.hi * z, ps, atp::fma(-0.5f * z, r.lo, r.lo));
  float pc = c3;
  pc = atp::fma(pc, z, c2);
  pc = atp::fma(pc, z, c1);
  pc = atp::fma(pc, z, c0);
  // cos(r + r_lo) = (1 - z/2) + z^2 C - z_lo/2 - r r_lo; 1 - z/2 rounds, its error is recovered exactly.
  const float h = 0.5f * z;
  const float w = 1.0f - h;
  const float w_err = (1.0f - w) - h;  // exact: Fast2Sum of 1 and -h
  const float cos_r = w + (atp::fma(z * z, pc, w_err) - atp::fma(0.5f, z_lo, r.hi * r.lo));
  const int q = static_cast<int>(k) & 3;  // two's complement: -1 & 3 = 3
  const float sq = (q & 1) ? cos_r : sin_r;
  const float cq = (q & 1) ? sin_r : cos_r;
  *sin_out = (q & 2) ? -sq : sq;
  *cos_out = (q == 1 || q == 2) ? -cq : cq;
}

/// cos and sin of the rotation of pair i at position pos, as every RoPE
/// table entry of the book is made: sincos(rope_angle(pos, rope_inv_freq(i, d, theta))).
ATP_HD inline void rope_cos_sin(int pos, int i, int head_dim, float theta, float* cos_out, float* sin_out) {
  atp::sincos(rope_angle(pos, rope_inv_freq(i, head_dim, theta)), sin_out, cos_out);
}

/// The two element indices of pair i in a head of size d: (2i, 2i+1) or (i, i + d/2).
ATP_HD inline void rope_pair(RopeStyle style, int i, int head_dim, int* j0, int* j1) {
  if (style == RopeStyle::Interleaved) {
    *j0 = 2 * i;
    *j1 = 2 * i + 1;
  } else {
    *j0 = i;
    *j1 = i + head_dim / 2;
  }
}

/// Rotates (x0, x1) by the angle with cosine c and sine s:
/// y0 = fma(x0, c, -(x1 s)), y1 = fma(x0, s, x1 c): one rounded product and one fma each.
ATP_HD inline void rope_rotate_pair(float x0, float x1, float c, float s, float* y0, float* y1) {
  *y0 = atp::fma(x0, c, -(x1 * s));
  *y1 = atp::fma(x0, s, x1 * c);
}

}  // namespace atp
