/// \file attention_weights.hpp
/// \brief The master weights of one attention layer (fp32, dense, as a
///        single-device model stores them) and the generator that makes them.
///
/// Letters: H = hidden size, nH = query heads, nKV = key/value heads, d = head_dim.
/// Storage as nn.Linear (y = x W^T + b):
///
///     Wq (nH*d, H)   Wk (nKV*d, H)   Wv (nKV*d, H)   Wo (H, nH*d)
///     bq (1, nH*d)   bk (1, nKV*d)   bv (1, nKV*d)   bo (1, H)     or all (0, 0)
///
/// Rows [h*d, (h+1)*d) of Wq belong to query head h; likewise Wk and Wv for KV
/// head g. The tensor-parallel layers shard these masters by slicing them
/// (atp::sim::QKVParallelLinear, RowParallelLinear); the float64 reference
/// (dense_attention_reference.hpp) reads them whole. Leaves out: fused QKV
/// checkpoint layouts (interleaved heads), rotary embeddings.
#pragma once

#include "atp/rng.hpp"
#include "atp/tensor.hpp"

#include <cmath>
#include <cstdint>

namespace atp {

/// The dense weights of one attention layer; biases are (0, 0) when absent.
struct AttentionWeights {
  Matrix Wq;  ///< (nH*d, H): query projection, head h = rows [h*d, (h+1)*d)
  Matrix Wk;  ///< (nKV*d, H): key projection, KV head g = rows [g*d, (g+1)*d)
  Matrix Wv;  ///< (nKV*d, H): value projection, KV head g = rows [g*d, (g+1)*d)
  Matrix Wo;  ///< (H, nH*d): output projection; column block h reads head h's context
  Matrix bq;  ///< (1, nH*d) or (0, 0)
  Matrix bk;  ///< (1, nKV*d) or (0, 0)
  Matrix bv;  ///< (1, nKV*d) or (0, 0)
  Matrix bo;  ///< (1, H) or (0, 0)

  /// True when the layer has biases (all four, as GPT-2 and ViT; Llama has none).
  bool has_bias() const { return bq.size() > 0; }
};

/// The weight scale the book uses for an (out, in) matrix: 3 / sqrt(in) in
/// fp32. Not a power of two (for in that is not a power of four), so products
/// round; large enough that scores spread over a few units and softmax rows are
/// visibly peaked (q and k entries have variance about 1 for inputs on [-1, 1)).
inline float attention_weight_scale(Eigen::Index in) { return 3.0f / std::sqrt(static_cast<float>(in)); }

/// Random masters from the counter-based generator: Wq, Wk, Wv, Wo on streams
/// stream0 + 0..3, biases (if `bias`) on stream0 + 4..7 scaled by 1/3.
inline AttentionWeights random_attention_weights(Eigen::Index hidden, int num_heads, int num_kv_heads, int head_dim,
                                                 std::uint64_t seed, bool bias, std::uint64_t stream0 = 100) {
  AttentionWeights w;
  const Eigen::Index q_out = static_cast<Eigen::Index>(num_heads) * head_dim;
  const Eigen::Index kv_out = static_cast<Eigen::Index>(num_kv_heads) * head_dim;
  w.Wq = random_matrix(q_out, hidden, seed, stream0 + 0, attention_weight_scale(hidden));
  w.Wk = random_matrix(kv_out, hidden, seed, stream0 + 1, attention_weight_scale(hidden));
  w.Wv = random_matrix(kv_out, hidden, seed, stream0 + 2, attention_weight_scale(hidden));
  w.Wo = random_matrix(hidden, q_out, seed, stream0 + 3, attention_weight_scale(q_out));
  if (bias) {
    w.bq = random_matrix(1, q_out, seed, stream0 + 4, 1.0f / 3.0f);
    w.bk = random_matrix(1, kv_out, seed, stream0 + 5, 1.0f / 3.0f);
    w.bv = random_matrix(1, kv_out, seed, stream0 + 6, 1.0f / 3.0f);
    w.bo = random_matrix(1, hidden, seed, stream0 + 7, 1.0f / 3.0f);
  }
  return w;
}

}  // namespace atp
