/// \file decoder_config.hpp
/// \brief DecoderConfig: the shape and the conventions of a decoder-only
///        transformer (Llama-style or GPT-style), checked once (chapter 7).
///
/// Legend: H = hidden (llama2.c's dim), I = intermediate (hidden_dim),
/// L = layers, nH = query heads, nKV = KV heads, d = head_dim = H / nH,
/// V = vocabulary, S = max_seq_len.
///
/// | arch  | norm                 | positions                     | MLP                       | biases |
/// |-------|----------------------|-------------------------------|---------------------------|--------|
/// | Llama | RMSNorm (weight)     | rotary, per head, in attention | SwiGLU: down(silu(gate x) * up x) | none   |
/// | GPT   | LayerNorm (w, b)     | learned (S, H), added to the token embeddings | down(gelu_tanh(up x + b) ) + b | all linears |
///
/// Both: pre-norm blocks x = x + attn(norm1(x)); x = x + mlp(norm2(x)), a
/// final norm, and an LM head that is the embedding table (tied) or its own
/// (V, H) weight. This is the definition the float64 reference decoder of
/// reference/include/atp/dense_decoder_reference.hpp follows too.
///
/// Leaves out: sliding windows, RoPE scaling, MoE, parallel attention+MLP
/// blocks (GPT-J), ALiBi.
#pragma once

#include "atp/activations.hpp"
#include "atp/dense_decoder_reference.hpp"
#include "atp/rotary.hpp"

#include <cstdint>
#include <string>

namespace atp::sim {

/// The two decoder families of the book: the float64 reference's enum
/// (dense_decoder_reference.hpp), so both sides name the same definition.
using DecoderArch = atp::DecoderArch;

/// "llama" or "gpt".
const char* decoder_arch_name(DecoderArch arch);
/// Parses decoder_arch_name(); \throws std::invalid_argument naming the text and the valid names.
DecoderArch parse_decoder_arch(const std::string& text);
/// Parses rope_style_name(); \throws std::invalid_argument naming the text and the valid names.
RopeStyle parse_rope_style(const std::string& text);

/// The largest max_seq_len the book accepts: rotary angles stay within
/// atp::sincos's accurate range (|angle| <= 2^20, since inv_freq <= 1).
inline constexpr int kMaxSeqLen = 1 << 20;

/// Shape and conventions of a decoder.
struct DecoderConfig {
  DecoderArch arch = DecoderArch::Llama;       ///< which family
  int hidden = 0;                               ///< H
  int intermediate = 0;                         ///< I, the MLP's inner width (gate and up each)
  int layers = 0;                               ///< L
  int heads = 0;                                ///< nH
  int kv_heads = 0;                             ///< nKV (divides nH)
  int vocab = 0;                                ///< V
  int max_seq_len = 0;                          ///< S: positions 0..S-1 exist
  float norm_eps = 1e-5f;                       ///< epsilon of RMSNorm / LayerNorm
  float rope_theta = 10000.0f;                  ///< rotary base (Llama only)
  RopeStyle rope_style = RopeStyle::Interleaved;  ///< rotary pairs (Llama only)
  GeluForm gelu = GeluForm::Tanh;               ///< the GPT MLP's GELU
  bool tied_embeddings = true;                  ///< the LM head is the embedding table

  /// d = H / nH.
  int head_dim() const { return heads > 0 ? hidden / heads : 0; }
  /// True for GPT (biases, LayerNorm, learned positions).
  bool has_bias() const { return arch == DecoderArch::GPT; }

  /// \throws std::invalid_argument naming the first bad field, its value and
  ///         what would be valid: sizes >= 1, nH divides H, nKV divides nH,
  ///         an even head_dim for Llama (rotary pairs), S <= kMaxSeqLen,
  ///         eps > 0 and finite, theta > 1 and finite.
  void validate() const;

  /// "llama: H=64 I=172 L=5 nH=8 nKV=4 d=8 V=256 S=256 eps=1e-05 theta=10000 (interleaved) tied".
  std::string describe() const;

  /// Same fields.
  bool operator==(const DecoderConfig&) const = default;
};

/// The tensor-parallel sizes this config can run: p divides nH, p divides or
/// is a multiple of nKV, p divides V padded to 64; the FFN is padded when p
/// does not divide I. "1, 2, 4, 8".
std::string valid_decoder_tp_list(const DecoderConfig& config);

/// \throws std::invalid_argument naming p, the config's head counts and
///         vocabulary, and valid_decoder_tp_list(), unless p can run config.
void check_decoder_tp(const DecoderConfig& config, int p);

/// I rounded up to a multiple of p: the width each rank's FFN slice is cut
/// from (I itself when p divides I; 172 -> 176 for p = 8). With
/// tree_segments S > 0 (the blocked tree order, chapter 11), a multiple of
/// lcm(p, S) = S for the p that divide S: the down projection's K then splits
/// into S equal segments at the same columns whatever p is (172 -> 176 at
/// every p), which invariance across tp needs.
/// \throws std::invalid_argument for p < 1 or a negative S.
std::int64_t padded_intermediate(const DecoderConfig& config, int p, int tree_segments = 0);

}  // namespace atp::sim
