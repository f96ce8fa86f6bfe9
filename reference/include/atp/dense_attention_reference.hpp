/// \file dense_attention_reference.hpp
/// \brief The dense single-device float64 reference of multi-head attention
///        with grouped-query heads and an optional causal mask (chapter 5).
///
/// Written the obvious way in double (Eigen products, std::exp), with no
/// canonical order: tests compare the fp32 simulator against it with a
/// tolerance, never bitwise. Query head h reads KV head h / (nH / nKV) (GQA;
/// nKV = nH is plain multi-head attention, nKV = 1 multi-query attention).
/// The scale is 1 / sqrt(d) in double. Leaves out: KV caches and decode
/// steps (chapter 7), rotary positions, dropout.
#pragma once

#include "atp/attention_weights.hpp"
#include "atp/tensor.hpp"

#include <vector>

namespace atp {

/// Every intermediate of the dense float64 attention, for per-tensor checks.
struct DenseAttentionRef {
  MatrixD q;                   ///< (T, nH*d) = x Wq^T + bq
  MatrixD k;                   ///< (T, nKV*d) = x Wk^T + bk
  MatrixD v;                   ///< (T, nKV*d) = x Wv^T + bv
  std::vector<MatrixD> probs;  ///< nH matrices (T, T): softmax(q_h k_g^T / sqrt d, masked)
  MatrixD context;             ///< (T, nH*d): head h's P_h v_g in columns [h*d, (h+1)*d)
  MatrixD out;                 ///< (T, H) = context Wo^T + bo
};

/// Dense attention of x (T, H) with the masters `w` in float64.
/// \throws std::invalid_argument unless nH, nKV >= 1, nKV divides nH, and the
///         weights' shapes fit x, nH, nKV and d = Wq.rows() / nH (names them).
DenseAttentionRef attention_ref(const Matrix& x, const AttentionWeights& w, int num_heads, int num_kv_heads,
                                bool causal);

}  // namespace atp
