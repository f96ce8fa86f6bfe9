/// \file dense_vit_reference.cpp
/// \brief The float64 vision transformer: plain Eigen and std:: double math.
#include "atp/dense_vit_reference.hpp"

#include "atp/dense_reference.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace atp {
namespace {

/// Multi-head self-attention of x (T, H), no mask, in double.
MatrixD attention_double(const MatrixD& x, const AttentionWeights& w, int heads) {
  const MatrixD bq = to_double(w.bq), bk = to_double(w.bk), bv = to_double(w.bv), bo = to_double(w.bo);
  const MatrixD q = linear_ref(x, to_double(w.Wq), &bq);
  const MatrixD k = linear_ref(x, to_double(w.Wk), &bk);
  const MatrixD v = linear_ref(x, to_double(w.Wv), &bv);
  const Eigen::Index d = q.cols() / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  MatrixD ctx(x.rows(), q.cols());
  for (int h = 0; h < heads; ++h) {
    const MatrixD s = q.middleCols(h * d, d) * k.middleCols(h * d, d).transpose() * scale;
    ctx.middleCols(h * d, d) = softmax_rows_ref(s) * v.middleCols(h * d, d);
  }
  return linear_ref(ctx, to_double(w.Wo), &bo);
}

}  // namespace

DenseVitRef vit_ref(const VitConfig& config, const VitWeights& weights, const Image& image) {
  config.validate();
  if (image.channels != config.channels)
    throw std::invalid_argument("vit_ref: the image has " + std::to_string(image.channels) +
                                " channels but the encoder expects " + std::to_string(config.channels));
  const PatchGrid g = patch_grid(image, config.patch);
  if (g.rows > config.max_grid || g.cols > config.max_grid)
    throw std::invalid_argument("vit_ref: image grid " + std::to_string(g.rows) + "x" + std::to_string(g.cols) +
                                " exceeds the position table's " + std::to_string(config.max_grid) + "x" +
                                std::to_string(config.max_grid));
  const int cls = config.class_token ? 1 : 0;
  const Eigen::Index H = config.hidden, rows = g.count() + cls;
  const MatrixD bpatch = to_double(weights.b_patch);
  const MatrixD patches = linear_ref(to_double(patchify(image, config.patch)), to_double(weights.W_patch),
                                     config.patch_bias ? &bpatch : nullptr);
  DenseVitRef r;
  r.embedded = MatrixD(rows, H);
  if (cls == 1) r.embedded.row(0) = to_double(weights.cls).row(0) + to_double(weights.pos).row(0);
  for (int i = 0; i < g.rows; ++i)
    for (int j = 0; j < g.cols; ++j) {
      const Eigen::Index t = static_cast<Eigen::Index>(i) * g.cols + j;
      r.embedded.row(cls + t) = patches.row(t) + to_double(weights.pos.row(config.position_row(i, j)));
    }
  MatrixD x = r.embedded;
  for (const VitBlockWeights& b : weights.blocks) {
    x += attention_double(layernorm_rows_ref(x, to_double(b.ln1_gamma), to_double(b.ln1_beta), config.eps), b.attn,
                          config.heads);
    const MatrixD h = layernorm_rows_ref(x, to_double(b.ln2_gamma), to_double(b.ln2_beta), config.eps);
    const MatrixD b1 = to_double(b.b_fc1), b2 = to_double(b.b_fc2);
    const MatrixD a = linear_ref(h, to_double(b.W_fc1), &b1);
    x += linear_ref(config.gelu == GeluForm::Tanh ? gelu_tanh_ref(a) : gelu_erf_ref(a), to_double(b.W_fc2), &b2);
  }
  r.blocks = x;
  r.out = layernorm_rows_ref(x, to_double(weights.post_gamma), to_double(weights.post_beta), config.eps);
  return r;
}

}  // namespace atp
