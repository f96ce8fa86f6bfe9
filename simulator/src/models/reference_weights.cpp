/// \file reference_weights.cpp
/// \brief A Checkpoint widened into the float64 reference decoder's weights.
#include "atp/sim/models/reference_weights.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace atp::sim {

DecoderWeightsRef reference_weights(const Checkpoint& c) {
  const DecoderConfig& cfg = c.config();
  if (cfg.arch == DecoderArch::Llama && cfg.rope_style != RopeStyle::Interleaved)
    throw std::invalid_argument("reference_weights: the float64 reference rotates interleaved pairs only; " +
                                c.origin() + " uses halves");
  const bool gpt = cfg.arch == DecoderArch::GPT;
  DecoderWeightsRef w;
  w.shape.arch = cfg.arch;
  w.shape.dim = cfg.hidden;
  w.shape.hidden_dim = cfg.intermediate;
  w.shape.n_layers = cfg.layers;
  w.shape.n_heads = cfg.heads;
  w.shape.n_kv_heads = cfg.kv_heads;
  w.shape.vocab_size = cfg.vocab;
  w.shape.max_seq_len = cfg.max_seq_len;
  w.shape.norm_eps = static_cast<double>(cfg.norm_eps);
  w.shape.rope_theta = static_cast<double>(cfg.rope_theta);
  auto read = [&](const std::string& name) { return widen_ref(c.read(name)); };
  w.tok_embedding = read("model.embed_tokens.weight");
  if (gpt) w.pos_embedding = read("model.embed_positions.weight");
  for (int l = 0; l < cfg.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    DecoderLayerRef L;
    L.attn_norm_w = read(p + "input_layernorm.weight");
    L.wq = read(p + "self_attn.q_proj.weight");
    L.wk = read(p + "self_attn.k_proj.weight");
    L.wv = read(p + "self_attn.v_proj.weight");
    L.wo = read(p + "self_attn.o_proj.weight");
    L.ffn_norm_w = read(p + "post_attention_layernorm.weight");
    L.w_up = read(p + "mlp.up_proj.weight");
    L.w_down = read(p + "mlp.down_proj.weight");
    if (gpt) {
      L.attn_norm_b = read(p + "input_layernorm.bias");
      L.bq = read(p + "self_attn.q_proj.bias");
      L.bk = read(p + "self_attn.k_proj.bias");
      L.bv = read(p + "self_attn.v_proj.bias");
      L.bo = read(p + "self_attn.o_proj.bias");
      L.ffn_norm_b = read(p + "post_attention_layernorm.bias");
      L.b_up = read(p + "mlp.up_proj.bias");
      L.b_down = read(p + "mlp.down_proj.bias");
    } else {
      L.w_gate = read(p + "mlp.gate_proj.weight");
    }
    w.layers.push_back(std::move(L));
  }
  w.final_norm_w = read("model.norm.weight");
  if (gpt) w.final_norm_b = read("model.norm.bias");
  if (!cfg.tied_embeddings) w.lm_head = read("lm_head.weight");
  validate_decoder_weights(w);
  return w;
}

double max_abs_difference(const Matrix& a, const MatrixD& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols())
    throw std::invalid_argument("max_abs_difference: " + shape_string(a) + " vs " + shape_string(b));
  double m = 0.0;
  for (Eigen::Index i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(static_cast<double>(a.data()[i]) - b.data()[i]));
  return m;
}

double top2_gap(const MatrixD& logits) {
  double best = -INFINITY, second = -INFINITY;
  for (Eigen::Index j = 0; j < logits.cols(); ++j) {
    const double v = logits(0, j);
    if (v > best) {
      second = best;
      best = v;
    } else if (v > second) {
      second = v;
    }
  }
  return best - second;
}

}  // namespace atp::sim
