/// \file mlp_masters.hpp
/// \brief Chapter 4's inputs and master weights, built once from the
/// counter-based generator: the CPU binary, the GPU worker and the tests all
/// call make_mlp_masters(), so every rank of every side slices the same bits.
///
/// Legend: T = tokens, H = hidden, I = intermediate. Streams: x 0, W_up 1,
/// b_up 2, W_down 3, b_down 4, W_gate 5. x is uniform on [-1.7, 1.7) (variance
/// ~0.96, like a normalised hidden state), weights on [-s, s) with s = 1.7/sqrt(in),
/// so every pre-activation has variance ~0.9 and GELU/SiLU work in their curved
/// range; biases on [-1/3, 1/3). None of the scales is a power of two, so
/// products fill the significand and sums round. Leaves out: real checkpoints.
#pragma once

#include "atp/rng.hpp"
#include "atp/tensor.hpp"

#include <cmath>
#include <cstdint>

namespace atp::ch04 {

/// The input and every master weight of both MLPs (the GELU MLP uses W_up, b_up, W_down, b_down;
/// the gated MLP uses W_gate, W_up, W_down).
struct MlpMasters {
  Matrix x;       ///< (T, H) the input, the same on every rank
  Matrix W_gate;  ///< (I, H) gate projection (gated MLP)
  Matrix W_up;    ///< (I, H) up projection
  Matrix b_up;    ///< (1, I) up bias (GELU MLP)
  Matrix W_down;  ///< (H, I) down projection
  Matrix b_down;  ///< (1, H) down bias (GELU MLP)
};

/// 1.7 / sqrt(in), rounded to float: the weight scale for `in` input features.
inline float weight_scale(Eigen::Index in) { return static_cast<float>(1.7 / std::sqrt(static_cast<double>(in))); }

/// x and the master weights for T tokens, hidden H, intermediate I, from `seed`.
inline MlpMasters make_mlp_masters(Eigen::Index T, Eigen::Index H, Eigen::Index I, std::uint64_t seed) {
  MlpMasters m;
  m.x = random_matrix(T, H, seed, 0, 1.7f);
  m.W_up = random_matrix(I, H, seed, 1, weight_scale(H));
  m.b_up = random_matrix(1, I, seed, 2, 1.0f / 3.0f);
  m.W_down = random_matrix(H, I, seed, 3, weight_scale(I));
  m.b_down = random_matrix(1, H, seed, 4, 1.0f / 3.0f);
  m.W_gate = random_matrix(I, H, seed, 5, weight_scale(H));
  return m;
}

}  // namespace atp::ch04
