/// \file attention_order.hpp
/// \brief The canonical order of scaled dot-product attention, one header for
///        the CPU simulator and the CUDA kernels (chapter 5).
///
/// Letters: T = tokens, d = head_dim, t = query position, s = key position.
/// For one head with q, k, v (T, d), every element is computed so:
///
///     dot(t, s)    = atp::dot(q.row(t), k.row(s), d)       (atp::matmul_nt: fma chain, k ascending)
///     score(t, s)  = attention_score(dot(t, s), scale)     (ONE multiply: dot * scale)
///                    or -inf if causal and s > t + offset  (attention_masked)
///     P.row(t)     = atp::softmax_row(score.row(t))        (row max, atp::exp, 32-lane sum, e / sum)
///     ctx(t, j)    = fma chain over s ascending of P(t, s) * v(s, j)   (atp::matmul_nn)
///
/// with scale = attention_scale(d) = 1.0f / sqrt(float(d)): a correctly rounded
/// square root, then a correctly rounded division, the same on both sides.
/// Scaling the score (not q, not k) keeps the dot product itself identical to
/// a plain matmul_nt, and one multiply per score is one rounding, written once.
/// Masked scores are -inf, so atp::exp gives +0 and fma(+0, v, acc) = acc:
/// the mask changes no rounding of the unmasked terms.
///
/// `offset` is the position of query row 0 among the keys: 0 when q and k
/// cover the same tokens, the number of cached positions when a decoder
/// attends one new token to a KV cache (chapter 7). Rotary positions are
/// applied to q and k before this (atp/rotary.hpp).
///
/// Includes no Eigen, so .cu files can include it. Leaves out: dropout,
/// ALiBi, sliding windows, soft-capping.
#pragma once

#include "atp/numerics.hpp"

namespace atp {

/// 1 / sqrt(d) as 1.0f / sqrt_rn(float(d)) (two correctly rounded operations;
/// float(d) is exact for d < 2^24). d must be >= 1.
ATP_HD inline float attention_scale(int head_dim) {
  return 1.0f / detail::sqrt_rn(static_cast<float>(head_dim));
}

/// One score: the finished dot product times the scale, one rounding.
ATP_HD inline float attention_score(float dot, float scale) { return dot * scale; }

/// True when the causal mask hides key s from query row t whose position is
/// t + query_offset (s > t + query_offset).
ATP_HD inline bool attention_masked(int t, int s, int query_offset = 0) { return s > t + query_offset; }

/// The value a masked score takes: -inf, so that softmax gives it +0.
ATP_HD inline float attention_mask_value() { return -detail::inf(); }

}  // namespace atp
