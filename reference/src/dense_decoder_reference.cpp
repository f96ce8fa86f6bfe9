/// \file dense_decoder_reference.cpp
/// \brief The dense float64 decoder with a KV cache: embedding, L pre-norm
///        blocks, final norm, LM head; greedy generation on top.
///
/// One forward, for T new tokens at positions [P, P + T):
///     x (T, D) = embed(ids)                      (+ positions, GPT)
///     per block:  h = Norm1(x); q, k, v = h W^T (+ b); RoPE(q, k) (Llama)
///                 cache k, v at rows [P, P + T); per query head h:
///                 ctx_h = softmax(q_h K_g^T / sqrt d, causal) V_g, g = h / (nH / nKV)
///                 x += ctx Wo^T (+ bo);  x += MLP(Norm2(x))
///     logits (T, V) = FinalNorm(x) W_out^T
/// Leaves out: weight checks (validate_decoder_weights, below), the reader
/// (llama2c_reader_reference.cpp).
#include "atp/dense_decoder_reference.hpp"

#include "atp/dense_reference.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

namespace atp {
namespace {

std::string str(long long v) { return std::to_string(v); }

void require(const MatrixD& m, Eigen::Index rows, Eigen::Index cols, const std::string& name) {
  if (m.rows() != rows || m.cols() != cols)
    throw std::invalid_argument("validate_decoder_weights: " + name + " is " + shape_string(m) + ", expected " +
                                shape_string(rows, cols));
}

void require_empty(const MatrixD& m, const std::string& name, const char* why) {
  if (m.size() != 0)
    throw std::invalid_argument("validate_decoder_weights: " + name + " is " + shape_string(m) +
                                ", expected empty (0, 0): " + why);
}

// A linear bias is optional: empty, or (1, out).
void require_bias(const MatrixD& b, Eigen::Index out, const std::string& name, bool allowed) {
  if (!allowed) return require_empty(b, name, "a Llama block has no biases");
  if (b.size() != 0) require(b, 1, out, name);
}

const MatrixD* bias(const MatrixD& b) { return b.size() == 0 ? nullptr : &b; }

}  // namespace

void validate_decoder_weights(const DecoderWeightsRef& w) {
  const DecoderShapeRef& s = w.shape;
  const bool gpt = s.arch == DecoderArch::GPT;
  const std::pair<const char*, int> sizes[] = {{"dim", s.dim},           {"hidden_dim", s.hidden_dim},
                                               {"n_layers", s.n_layers}, {"n_heads", s.n_heads},
                                               {"n_kv_heads", s.n_kv_heads}, {"vocab_size", s.vocab_size},
                                               {"max_seq_len", s.max_seq_len}};
  for (const auto& [name, v] : sizes)
    if (v < 1)
      throw std::invalid_argument(std::string("validate_decoder_weights: ") + name + " = " + str(v) +
                                  ", expected >= 1");
  if (s.dim % s.n_heads != 0 || s.n_heads % s.n_kv_heads != 0)
    throw std::invalid_argument("validate_decoder_weights: dim " + str(s.dim) + ", n_heads " + str(s.n_heads) +
                                ", n_kv_heads " + str(s.n_kv_heads) +
                                ": n_heads must divide dim and n_kv_heads must divide n_heads");
  if (!gpt && (s.head_dim() % 2 != 0 || !(s.rope_theta > 0.0)))
    throw std::invalid_argument("validate_decoder_weights: RoPE needs an even head_dim (got " + str(s.head_dim()) +
                                ") and rope_theta > 0 (got " + std::to_string(s.rope_theta) + ")");
  if (!(s.norm_eps >= 0.0))
    throw std::invalid_argument("validate_decoder_weights: norm_eps = " + std::to_string(s.norm_eps) +
                                ", expected >= 0");
  if (w.layers.size() != static_cast<std::size_t>(s.n_layers))
    throw std::invalid_argument("validate_decoder_weights: " + str(static_cast<long long>(w.layers.size())) +
                                " layers, but n_layers = " + str(s.n_layers));

  const Eigen::Index D = s.dim, F = s.hidden_dim, Q = s.n_heads * s.head_dim(), KV = s.n_kv_heads * s.head_dim();
  // A norm bias is required in a GPT (LayerNorm) and absent in a Llama (RMSNorm).
  const auto norm_bias = [gpt, D](const MatrixD& b, const std::string& name) {
    if (gpt) require(b, 1, D, name);
    else require_empty(b, name, "RMSNorm has no bias");
  };
  require(w.tok_embedding, s.vocab_size, D, "tok_embedding");
  if (gpt) require(w.pos_embedding, s.max_seq_len, D, "pos_embedding");
  else require_empty(w.pos_embedding, "pos_embedding", "a Llama uses RoPE, not learned positions");
  for (int i = 0; i < s.n_layers; ++i) {
    const DecoderLayerRef& l = w.layers[static_cast<std::size_t>(i)];
    const std::string p = "layers[" + str(i) + "].";
    require(l.attn_norm_w, 1, D, p + "attn_norm_w");
    norm_bias(l.attn_norm_b, p + "attn_norm_b");
    require(l.wq, Q, D, p + "wq");
    require(l.wk, KV, D, p + "wk");
    require(l.wv, KV, D, p + "wv");
    require(l.wo, D, Q, p + "wo");
    require_bias(l.bq, Q, p + "bq", gpt);
    require_bias(l.bk, KV, p + "bk", gpt);
    require_bias(l.bv, KV, p + "bv", gpt);
    require_bias(l.bo, D, p + "bo", gpt);
    require(l.ffn_norm_w, 1, D, p + "ffn_norm_w");
    norm_bias(l.ffn_norm_b, p + "ffn_norm_b");
    if (gpt) require_empty(l.w_gate, p + "w_gate", "the GPT MLP has no gate");
    else require(l.w_gate, F, D, p + "w_gate");
    require(l.w_up, F, D, p + "w_up");
    require(l.w_down, D, F, p + "w_down");
    require_bias(l.b_up, F, p + "b_up", gpt);
    require_bias(l.b_down, D, p + "b_down", gpt);
  }
  require(w.final_norm_w, 1, D, "final_norm_w");
  norm_bias(w.final_norm_b, "final_norm_b");
  if (w.lm_head.size() != 0) require(w.lm_head, s.vocab_size, D, "lm_head");
}

MatrixD widen_ref(const Matrix& m) { return m.size() == 0 ? MatrixD() : to_double(m); }

MatrixD rope_rows_ref(const MatrixD& x, int head_dim, int first_position, double theta) {
  if (head_dim < 2 || head_dim % 2 != 0 || x.cols() % head_dim != 0 || first_position < 0 || !(theta > 0.0))
    throw std::invalid_argument("rope_rows_ref: head_dim " + str(head_dim) + " must be even, >= 2 and divide x's " +
                                str(x.cols()) + " columns; first_position " + str(first_position) +
                                " must be >= 0; theta " + std::to_string(theta) + " must be > 0");
  MatrixD y = x;
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const double pos = static_cast<double>(first_position + t);
    for (Eigen::Index c = 0; c < x.cols(); c += 2) {
      const double i = static_cast<double>((c % head_dim) / 2);  // pair index inside the head
      const double angle = pos * std::pow(theta, -2.0 * i / head_dim);
      const double cs = std::cos(angle), sn = std::sin(angle), a = x(t, c), b = x(t, c + 1);
      y(t, c) = a * cs - b * sn;
      y(t, c + 1) = a * sn + b * cs;
    }
  }
  return y;
}

int argmax_ref(const MatrixD& logits) {
  if (logits.size() == 0) throw std::invalid_argument("argmax_ref: logits are empty");
  int best = 0;
  for (Eigen::Index j = 0; j < logits.cols(); ++j) {
    if (std::isnan(logits(0, j)))
      throw std::invalid_argument("argmax_ref: logits[" + str(j) + "] is NaN");
    if (logits(0, j) > logits(0, best)) best = static_cast<int>(j);  // strict >: ties keep the lowest id
  }
  return best;
}

DenseDecoderRef::DenseDecoderRef(const DecoderWeightsRef& weights) : w_(weights) {
  validate_decoder_weights(w_);
  const Eigen::Index kv = w_.shape.n_kv_heads * w_.shape.head_dim();
  k_cache_.assign(w_.layers.size(), MatrixD::Zero(w_.shape.max_seq_len, kv));
  v_cache_ = k_cache_;
}

int DenseDecoderRef::position() const { return pos_; }

void DenseDecoderRef::reset() { pos_ = 0; }

MatrixD DenseDecoderRef::norm(const MatrixD& x, const MatrixD& w, const MatrixD& b) const {
  if (w_.shape.arch == DecoderArch::GPT) return layernorm_rows_ref(x, w, b, w_.shape.norm_eps);
  return rmsnorm_rows_ref(x, w, w_.shape.norm_eps);
}

MatrixD DenseDecoderRef::attention(const DecoderLayerRef& lw, int layer, const MatrixD& h) {
  const DecoderShapeRef& s = w_.shape;
  const Eigen::Index T = h.rows(), d = s.head_dim(), seen = pos_ + T;
  MatrixD q = linear_ref(h, lw.wq, bias(lw.bq));
  MatrixD k = linear_ref(h, lw.wk, bias(lw.bk));
  if (s.arch == DecoderArch::Llama) {
    q = rope_rows_ref(q, s.head_dim(), pos_, s.rope_theta);
    k = rope_rows_ref(k, s.head_dim(), pos_, s.rope_theta);
  }
  MatrixD& K = k_cache_[static_cast<std::size_t>(layer)];
  MatrixD& V = v_cache_[static_cast<std::size_t>(layer)];
  K.middleRows(pos_, T) = k;
  V.middleRows(pos_, T) = linear_ref(h, lw.wv, bias(lw.bv));

  MatrixD context(T, s.n_heads * d);
  const int group = s.n_heads / s.n_kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  for (int head = 0; head < s.n_heads; ++head) {
    const int g = head / group;  // GQA: consecutive query heads share one KV head
    MatrixD scores = q.middleCols(head * d, d) * K.block(0, g * d, seen, d).transpose() * scale;  // (T, seen)
    for (Eigen::Index t = 0; t < T; ++t)  // causal: the token at pos_ + t sees cached rows 0 .. pos_ + t
      for (Eigen::Index u = pos_ + t + 1; u < seen; ++u) scores(t, u) = -std::numeric_limits<double>::infinity();
    context.middleCols(head * d, d) = softmax_rows_ref(scores) * V.block(0, g * d, seen, d);
  }
  return linear_ref(context, lw.wo, bias(lw.bo));
}

MatrixD DenseDecoderRef::mlp(const DecoderLayerRef& lw, const MatrixD& h) const {
  if (w_.shape.arch == DecoderArch::GPT)
    return linear_ref(gelu_tanh_ref(linear_ref(h, lw.w_up, bias(lw.b_up))), lw.w_down, bias(lw.b_down));
  const MatrixD gate = silu_ref(linear_ref(h, lw.w_gate, nullptr));
  const MatrixD up = linear_ref(h, lw.w_up, nullptr);
  return linear_ref(gate.cwiseProduct(up), lw.w_down, nullptr);
}

MatrixD DenseDecoderRef::forward(const std::vector<int>& ids) {
  const DecoderShapeRef& s = w_.shape;
  const auto T = static_cast<Eigen::Index>(ids.size());
  if (T == 0) throw std::invalid_argument("DenseDecoderRef::forward: ids is empty; pass at least one token id");
  if (pos_ + T > s.max_seq_len)
    throw std::invalid_argument("DenseDecoderRef::forward: positions " + str(pos_) + " .. " + str(pos_ + T - 1) +
                                " run past max_seq_len " + str(s.max_seq_len) + " (valid positions 0 .. " +
                                str(s.max_seq_len - 1) + ")");
  MatrixD x(T, s.dim);
  for (Eigen::Index t = 0; t < T; ++t) {
    const int id = ids[static_cast<std::size_t>(t)];
    if (id < 0 || id >= s.vocab_size)
      throw std::invalid_argument("DenseDecoderRef::forward: ids[" + str(t) + "] = " + str(id) +
                                  " is not a token id; valid ids are 0 .. " + str(s.vocab_size - 1));
    x.row(t) = w_.tok_embedding.row(id);
    if (s.arch == DecoderArch::GPT) x.row(t) += w_.pos_embedding.row(pos_ + t);
  }
  for (int l = 0; l < s.n_layers; ++l) {
    const DecoderLayerRef& lw = w_.layers[static_cast<std::size_t>(l)];
    x += attention(lw, l, norm(x, lw.attn_norm_w, lw.attn_norm_b));
    x += mlp(lw, norm(x, lw.ffn_norm_w, lw.ffn_norm_b));
  }
  pos_ += static_cast<int>(T);
  const MatrixD& out = w_.lm_head.size() != 0 ? w_.lm_head : w_.tok_embedding;
  return linear_ref(norm(x, w_.final_norm_w, w_.final_norm_b), out, nullptr);
}

std::vector<int> greedy_generate_reference(const DecoderWeightsRef& weights, const std::vector<int>& prompt,
                                           int steps, std::vector<MatrixD>* step_logits) {
  if (prompt.empty())
    throw std::invalid_argument("greedy_generate_reference: the prompt is empty; it needs at least one id (e.g. BOS)");
  if (steps < 0)
    throw std::invalid_argument("greedy_generate_reference: steps = " + str(steps) + ", expected >= 0");
  const long long needed = static_cast<long long>(prompt.size()) + (steps > 0 ? steps - 1 : 0);
  if (needed > weights.shape.max_seq_len)
    throw std::invalid_argument("greedy_generate_reference: a prompt of " + str(static_cast<long long>(prompt.size())) +
                                " ids and " + str(steps) + " steps need " + str(needed) +
                                " positions, more than max_seq_len " + str(weights.shape.max_seq_len));
  DenseDecoderRef decoder(weights);
  if (step_logits != nullptr) step_logits->clear();
  MatrixD logits = decoder.forward(prompt);
  std::vector<int> generated;
  for (int i = 0; i < steps; ++i) {
    if (i > 0) logits = decoder.forward({generated.back()});
    const MatrixD last = logits.bottomRows(1);
    generated.push_back(argmax_ref(last));
    if (step_logits != nullptr) step_logits->push_back(last);
  }
  return generated;
}

}  // namespace atp
