/// \file decoder_config.cpp
/// \brief DecoderConfig's checks, names and the tensor-parallel sizes it admits.
#include "atp/sim/models/decoder_config.hpp"

#include "atp/sim/layers/tp_divide.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"

#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>

namespace atp::sim {
namespace {

std::string str(long long v) { return std::to_string(v); }

std::string float_text(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
  return buf;
}

void require_positive(int v, const char* name, const char* what) {
  if (v < 1)
    throw std::invalid_argument(std::string("decoder config: ") + name + " = " + str(v) + " must be >= 1 (" + what +
                                ")");
}

bool tp_fits(const DecoderConfig& c, int p) {
  if (c.heads % p != 0) return false;
  if (c.kv_heads % p != 0 && p % c.kv_heads != 0) return false;
  return pad_vocab_size(c.vocab) % p == 0;
}

}  // namespace

const char* decoder_arch_name(DecoderArch arch) { return arch == DecoderArch::GPT ? "gpt" : "llama"; }

DecoderArch parse_decoder_arch(const std::string& text) {
  if (text == "llama") return DecoderArch::Llama;
  if (text == "gpt") return DecoderArch::GPT;
  throw std::invalid_argument("decoder arch '" + text + "' is not known; valid: llama, gpt");
}

RopeStyle parse_rope_style(const std::string& text) {
  if (text == "interleaved") return RopeStyle::Interleaved;
  if (text == "halves") return RopeStyle::Halves;
  throw std::invalid_argument("rope style '" + text + "' is not known; valid: interleaved (pairs 2i, 2i+1), halves "
                              "(pairs i, i + d/2)");
}

void DecoderConfig::validate() const {
  require_positive(hidden, "hidden (dim)", "the width of every token's vector");
  require_positive(intermediate, "intermediate (hidden_dim)", "the MLP's inner width");
  require_positive(layers, "layers", "transformer blocks");
  require_positive(heads, "heads", "query heads");
  require_positive(kv_heads, "kv_heads", "key/value heads");
  require_positive(vocab, "vocab", "vocabulary size");
  require_positive(max_seq_len, "max_seq_len", "positions");
  if (hidden % heads != 0)
    throw std::invalid_argument("decoder config: hidden " + str(hidden) + " is not divisible by heads " + str(heads) +
                                ", so head_dim = hidden / heads is undefined; valid heads: " +
                                valid_tp_list(hidden));
  if (heads % kv_heads != 0)
    throw std::invalid_argument("decoder config: heads " + str(heads) + " is not a multiple of kv_heads " +
                                str(kv_heads) + " (each KV head serves a whole group of query heads); valid kv_heads: " +
                                valid_tp_list(heads));
  if (arch == DecoderArch::Llama && head_dim() % 2 != 0)
    throw std::invalid_argument("decoder config: head_dim " + str(head_dim()) +
                                " is odd; rotary embeddings rotate pairs of a head's elements, so it must be even");
  if (max_seq_len > kMaxSeqLen)
    throw std::invalid_argument("decoder config: max_seq_len " + str(max_seq_len) + " exceeds " + str(kMaxSeqLen) +
                                " = 2^20, the positions whose rotary angles atp::sincos computes accurately");
  if (!(norm_eps > 0.0f) || !std::isfinite(norm_eps))
    throw std::invalid_argument("decoder config: norm_eps " + float_text(norm_eps) + " must be > 0 and finite");
  if (arch == DecoderArch::Llama && (!(rope_theta > 1.0f) || !std::isfinite(rope_theta)))
    throw std::invalid_argument("decoder config: rope_theta " + float_text(rope_theta) +
                                " must be > 1 and finite (10000 for Llama 2 and llama2.c)");
}

std::string DecoderConfig::describe() const {
  std::string s = std::string(decoder_arch_name(arch)) + ": H=" + str(hidden) + " I=" + str(intermediate) +
                  " L=" + str(layers) + " nH=" + str(heads) + " nKV=" + str(kv_heads) + " d=" + str(head_dim()) +
                  " V=" + str(vocab) + " S=" + str(max_seq_len) + " eps=" + float_text(norm_eps);
  if (arch == DecoderArch::Llama)
    s += " theta=" + float_text(rope_theta) + " (" + rope_style_name(rope_style) + ")";
  else
    s += std::string(" gelu=") + gelu_form_name(gelu);
  return s + (tied_embeddings ? " tied" : " untied");
}

std::string valid_decoder_tp_list(const DecoderConfig& config) {
  std::string out;
  for (int p = 1; p <= config.heads; ++p)
    if (tp_fits(config, p)) out += (out.empty() ? "" : ", ") + str(p);
  return out.empty() ? "none" : out;
}

void check_decoder_tp(const DecoderConfig& config, int p) {
  if (p >= 1 && p <= config.heads && tp_fits(config, p)) return;
  throw std::invalid_argument("tp " + str(p) + " does not fit this model (" + str(config.heads) + " query heads, " +
                              str(config.kv_heads) + " KV heads, vocabulary " + str(config.vocab) +
                              " padded to " + str(pad_vocab_size(config.vocab)) +
                              "): tp must divide the query heads, divide or be a multiple of the KV heads, and "
                              "divide the padded vocabulary; valid tp: " +
                              valid_decoder_tp_list(config));
}

std::int64_t padded_intermediate(const DecoderConfig& config, int p, int tree_segments) {
  if (p < 1) throw std::invalid_argument("padded_intermediate: tp " + str(p) + " must be >= 1");
  if (tree_segments < 0)
    throw std::invalid_argument("padded_intermediate: tree_segments " + str(tree_segments) +
                                " must be >= 0 (0: no tree order)");
  const std::int64_t I = config.intermediate;
  const std::int64_t m = tree_segments > 0 ? std::lcm<std::int64_t>(p, tree_segments) : p;
  return (I + m - 1) / m * m;
}

}  // namespace atp::sim
