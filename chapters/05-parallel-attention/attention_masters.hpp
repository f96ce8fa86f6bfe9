/// \file attention_masters.hpp
/// \brief Chapter 5's input and master weights, built once from the
/// counter-based generator: the CPU binary, the GPU worker and the tests all
/// call make_attention_masters(), so every rank of every side slices the same bits.
///
/// Legend: T = tokens, H = hidden, nH = query heads, nKV = KV heads, d = H / nH.
/// x (T, H) is uniform on [-1, 1) (stream 0); the weights come from
/// atp::random_attention_weights (streams 100..107, scale 3/sqrt(in), biases
/// on [-1/3, 1/3)), so q and k entries have variance about 1 and scores
/// spread over a few units: softmax rows are visibly peaked, not uniform.
/// The chapter uses biases (as GPT-2 and ViT do; Llama has none, and the
/// layers accept nullptr). Leaves out: real checkpoints.
#pragma once

#include "atp/attention_weights.hpp"
#include "atp/rng.hpp"
#include "atp/tensor.hpp"

#include <cstdint>

namespace atp::ch05 {

/// The input and the master weights of the chapter's attention layer.
struct AttentionMasters {
  Matrix x;               ///< (T, H), the same on every rank
  AttentionWeights w;     ///< Wq, Wk, Wv, Wo and their biases
};

/// x and the masters for T tokens, hidden H, nH query heads, nKV KV heads, from `seed`.
/// H must be a multiple of nH (checked by the layers, which name the valid values).
inline AttentionMasters make_attention_masters(Eigen::Index T, Eigen::Index H, int num_heads, int num_kv_heads,
                                               std::uint64_t seed) {
  AttentionMasters m;
  m.x = random_matrix(T, H, seed, 0, 1.0f);
  const int d = num_heads > 0 ? static_cast<int>(H / num_heads) : 0;
  m.w = random_attention_weights(H, num_heads, num_kv_heads, d, seed, true);
  return m;
}

}  // namespace atp::ch05
