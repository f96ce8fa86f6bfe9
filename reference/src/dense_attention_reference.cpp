/// \file dense_attention_reference.cpp
/// \brief Dense float64 grouped-query attention: plain Eigen and std::exp.
#include "atp/dense_attention_reference.hpp"

#include "atp/dense_reference.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace atp {
namespace {

void require_shape(const Matrix& m, Eigen::Index rows, Eigen::Index cols, const char* what) {
  if (m.rows() != rows || m.cols() != cols)
    throw std::invalid_argument(std::string("attention_ref: ") + what + " is " + shape_string(m) + ", expected " +
                                shape_string(rows, cols));
}

}  // namespace

DenseAttentionRef attention_ref(const Matrix& x, const AttentionWeights& w, int num_heads, int num_kv_heads,
                                bool causal) {
  if (num_heads < 1 || num_kv_heads < 1 || num_heads % num_kv_heads != 0)
    throw std::invalid_argument("attention_ref: num_heads " + std::to_string(num_heads) + " and num_kv_heads " +
                                std::to_string(num_kv_heads) + ": both must be >= 1 and num_kv_heads must divide "
                                "num_heads");
  if (w.Wq.rows() % num_heads != 0)
    throw std::invalid_argument("attention_ref: Wq has " + std::to_string(w.Wq.rows()) + " rows, not a multiple of " +
                                std::to_string(num_heads) + " heads");
  const Eigen::Index T = x.rows(), H = x.cols(), d = w.Wq.rows() / num_heads;
  require_shape(w.Wq, num_heads * d, H, "Wq");
  require_shape(w.Wk, num_kv_heads * d, H, "Wk");
  require_shape(w.Wv, num_kv_heads * d, H, "Wv");
  require_shape(w.Wo, H, num_heads * d, "Wo");
  const bool bias = w.has_bias();
  if (bias) {
    require_shape(w.bq, 1, num_heads * d, "bq");
    require_shape(w.bk, 1, num_kv_heads * d, "bk");
    require_shape(w.bv, 1, num_kv_heads * d, "bv");
    require_shape(w.bo, 1, H, "bo");
  }
  const MatrixD xd = to_double(x);
  const MatrixD bq = to_double(w.bq), bk = to_double(w.bk), bv = to_double(w.bv), bo = to_double(w.bo);
  DenseAttentionRef r;
  r.q = linear_ref(xd, to_double(w.Wq), bias ? &bq : nullptr);
  r.k = linear_ref(xd, to_double(w.Wk), bias ? &bk : nullptr);
  r.v = linear_ref(xd, to_double(w.Wv), bias ? &bv : nullptr);
  r.context = MatrixD::Zero(T, num_heads * d);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const int group = num_heads / num_kv_heads;
  for (int h = 0; h < num_heads; ++h) {
    const int g = h / group;
    MatrixD s = r.q.middleCols(h * d, d) * r.k.middleCols(g * d, d).transpose() * scale;
    if (causal)
      for (Eigen::Index t = 0; t < T; ++t)
        for (Eigen::Index u = t + 1; u < T; ++u) s(t, u) = -std::numeric_limits<double>::infinity();
    MatrixD p = softmax_rows_ref(s);
    r.context.middleCols(h * d, d) = p * r.v.middleCols(g * d, d);
    r.probs.push_back(std::move(p));
  }
  r.out = linear_ref(r.context, to_double(w.Wo), bias ? &bo : nullptr);
  return r;
}

}  // namespace atp
