/// \file log_softmax_order.hpp
/// \brief The canonical order of a log-softmax over a vocabulary that may be
///        split across ranks: the same bits whatever the number of ranks.
///
/// Letters: V = real vocabulary, V_pad = padded vocabulary (chapter 6), S =
/// tree segments (a power of two dividing V_pad), Lv = V_pad / S, z = logits.
///
///     m       = max over the V real logits                  (atp::max_nan: exact in any order)
///     e_s     = exp_sum_lane32(z[s Lv ...], real columns of segment s, m)   per segment s
///     sum     = atp::tree_sum(e_0, ..., e_{S-1})            (tree_order.hpp)
///     out[i]  = log_softmax_epilogue(z[i], m, atp::log(sum))
///
/// A rank of p holds S/p whole segments (p divides S): it sums its segments
/// with the lower tree levels and the tree all-reduce performs the upper
/// ones; the max is an all-reduce of a maximum, which any order computes
/// exactly. Padding columns (ids >= V) sit at the end of the vocabulary and
/// are skipped: adding +0 to a sum of exponentials (never -0) changes no bit.
/// Includes no Eigen: the CPU simulator and the CUDA kernels share it.
/// Leaves out: temperature, soft-capping, the backward pass.
#pragma once

#include "atp/log.hpp"
#include "atp/numerics.hpp"

namespace atp {

/// Sum of exp(z[i] - m) for i < n in the 32-lane order (lane l takes i = l,
/// l + 32, ... ascending, then atp::lane_tree_sum), as atp::row_sum_lane32
/// of the exponentials. n <= 0 returns +0.
ATP_HD inline float exp_sum_lane32(const float* z, int n, float m) {
  float v[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    float acc = 0.0f;
    for (int i = l; i < n; i += kLanes) acc = acc + atp::exp(z[i] - m);
    v[l] = acc;
  }
  return lane_tree_sum(v);
}

/// One log-probability: (z - m) - log_sum, two correctly rounded subtractions.
ATP_HD inline float log_softmax_epilogue(float z, float m, float log_sum) { return (z - m) - log_sum; }

}  // namespace atp
