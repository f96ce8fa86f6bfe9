/// \file llama2c.hpp
/// \brief The llama2.c checkpoint format ("legacy" version 0 of Karpathy's
///        llama2.c export.py): reader and writer (chapter 7).
///
/// Layout, all little-endian:
///
///     int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len   (28 bytes)
///     float token_embedding   (V, dim)
///     float rms_att_weight    (L, dim)
///     float wq                (L, n_heads*hs, dim)        hs = dim / n_heads
///     float wk, wv            (L, n_kv_heads*hs, dim) each
///     float wo                (L, dim, n_heads*hs)
///     float rms_ffn_weight    (L, dim)
///     float w1                (L, hidden_dim, dim)         gate
///     float w2                (L, dim, hidden_dim)         down
///     float w3                (L, hidden_dim, dim)         up
///     float rms_final_weight  (dim)
///     float freq_cis_real, freq_cis_imag  (seq_len, hs/2) each: legacy RoPE tables, skipped
///     float wcls              (V, dim)                     only when vocab_size < 0
///
/// A positive vocab_size means the classifier is the embedding table (tied);
/// a negative one means its own table follows, and V = |vocab_size|. The
/// format stores no epsilon, rotary base or pair layout: llama2.c uses
/// RMSNorm eps 1e-5, theta 10000, interleaved pairs, and so does the reader.
/// The file size must match the header exactly; every mismatch is an error
/// that names both numbers. Leaves out: llama2.c's later versioned formats
/// (magic "ak42", int8 quantisation).
#pragma once

#include "atp/sim/checkpoint/checkpoint.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace atp::sim {

/// Bytes of the llama2.c header: seven int32.
inline constexpr std::int64_t kLlama2cHeaderBytes = 28;

/// The seven header fields, as stored.
struct Llama2cHeader {
  std::int32_t dim = 0;         ///< H
  std::int32_t hidden_dim = 0;  ///< I
  std::int32_t n_layers = 0;    ///< L
  std::int32_t n_heads = 0;     ///< nH
  std::int32_t n_kv_heads = 0;  ///< nKV
  std::int32_t vocab_size = 0;  ///< V, negative when the classifier is stored separately
  std::int32_t seq_len = 0;     ///< S
};

/// The header's config with llama2.c's fixed conventions (eps 1e-5, theta
/// 10000, interleaved rotary pairs, tied iff vocab_size > 0).
/// \throws std::invalid_argument naming the field if the header is not a valid decoder.
DecoderConfig llama2c_config(const Llama2cHeader& header);

/// The file size a header describes, in bytes (header included).
/// \throws std::invalid_argument if the sizes overflow 64 bits.
std::int64_t llama2c_file_bytes(const Llama2cHeader& header);

/// Parses a llama2.c checkpoint held in memory (no copy): the header, the
/// exact size, and every tensor's byte range under its canonical name.
/// \throws std::invalid_argument naming `origin` and the problem (too short
///         for a header, a bad field, a size that does not match the header).
CheckpointContents parse_llama2c(std::span<const std::byte> bytes, const std::string& origin);

/// The bytes of a llama2.c file holding `source`'s weights (read in full as
/// fp32; the legacy RoPE tables are written with atp::rope_cos_sin).
/// \throws std::invalid_argument naming what the format cannot store: a GPT
///         decoder, eps other than 1e-5, theta other than 10000, halves-style pairs.
std::vector<std::byte> write_llama2c(const Checkpoint& source);

}  // namespace atp::sim
