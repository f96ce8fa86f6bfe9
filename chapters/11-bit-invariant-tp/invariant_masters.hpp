/// \file invariant_masters.hpp
/// \brief Chapter 11's inputs and master weights, built once from the
/// counter-based generator: the CPU binary, the GPU worker and the notebook's
/// runs all call make_invariant_masters(), so every rank of every tp slices
/// the same bits.
///
/// Legend: T = tokens, H = hidden, I = intermediate, nH / nKV = heads, d = H / nH,
/// V = vocabulary. Streams (seed, s): x 0, W_gate 1, W_up 2, b_up 3, W_down 4,
/// b_down 5, LM-head weight 6; attention weights 100.. (atp::random_attention_weights).
/// x is uniform on [-1.7, 1.7), weights on [-s, s) with s = 1.7 / sqrt(in),
/// biases on [-1/3, 1/3), the LM head on [-6/sqrt(H), 6/sqrt(H)) so logits
/// spread over several units and the softmax is peaked: sums round, and a
/// wrong order would show. Leaves out: real checkpoints (chapter 7's).
#pragma once

#include "atp/attention_weights.hpp"
#include "atp/rng.hpp"
#include "atp/tensor.hpp"

#include <cmath>
#include <cstdint>

namespace atp::ch11 {

/// Every input of the chapter's layers.
struct InvariantMasters {
  Matrix x;               ///< (T, H), the same on every rank
  Matrix W_gate;          ///< (I, H) SwiGLU gate
  Matrix W_up;            ///< (I, H) up projection (both MLPs)
  Matrix b_up;            ///< (1, I) GELU MLP's up bias
  Matrix W_down;          ///< (H, I) down projection: the row-parallel layer whose sums the tree orders
  Matrix b_down;          ///< (1, H) GELU MLP's down bias, added once after the root
  Matrix W_lm;            ///< (V, H) the LM head, for the vocabulary-parallel log-softmax
  AttentionWeights attn;  ///< Wq, Wk, Wv (nH d or nKV d, H), Wo (H, nH d), biases
};

/// 1.7 / sqrt(in), rounded to float.
inline float scale_for(Eigen::Index in) { return static_cast<float>(1.7 / std::sqrt(static_cast<double>(in))); }

/// x and every master for T tokens, hidden H, intermediate I, nH / nKV heads, vocabulary V, from `seed`.
inline InvariantMasters make_invariant_masters(Eigen::Index T, Eigen::Index H, Eigen::Index I, int num_heads,
                                               int num_kv_heads, Eigen::Index V, std::uint64_t seed) {
  InvariantMasters m;
  m.x = random_matrix(T, H, seed, 0, 1.7f);
  m.W_gate = random_matrix(I, H, seed, 1, scale_for(H));
  m.W_up = random_matrix(I, H, seed, 2, scale_for(H));
  m.b_up = random_matrix(1, I, seed, 3, 1.0f / 3.0f);
  m.W_down = random_matrix(H, I, seed, 4, scale_for(I));
  m.b_down = random_matrix(1, H, seed, 5, 1.0f / 3.0f);
  m.W_lm = random_matrix(V, H, seed, 6, static_cast<float>(6.0 / std::sqrt(static_cast<double>(H))));
  const int d = num_heads > 0 ? static_cast<int>(H / num_heads) : 0;
  m.attn = random_attention_weights(H, num_heads, num_kv_heads, d, seed, true);
  return m;
}

}  // namespace atp::ch11
