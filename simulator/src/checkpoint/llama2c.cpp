/// \file llama2c.cpp
/// \brief llama2.c checkpoints: header, exact size check, tensor offsets, and the writer.
#include "atp/sim/checkpoint/llama2c.hpp"

#include "atp/rotary.hpp"

#include <cstring>
#include <stdexcept>

namespace atp::sim {
namespace {

std::string str(long long v) { return std::to_string(v); }

/// a * b, refusing to wrap around.
std::int64_t mul(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    throw std::invalid_argument("llama2.c header: sizes " + str(a) + " x " + str(b) + " overflow 64 bits");
  return r;
}

std::int64_t add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    throw std::invalid_argument("llama2.c header: sizes " + str(a) + " + " + str(b) + " overflow 64 bits");
  return r;
}

std::string describe(const Llama2cHeader& h) {
  return "dim=" + str(h.dim) + " hidden_dim=" + str(h.hidden_dim) + " n_layers=" + str(h.n_layers) +
         " n_heads=" + str(h.n_heads) + " n_kv_heads=" + str(h.n_kv_heads) + " vocab_size=" + str(h.vocab_size) +
         " seq_len=" + str(h.seq_len);
}

/// The stacked tensors of the file, in order, as (rows per layer, cols, layers); one layer for the others.
struct Block {
  const char* what;     // llama2.c's name
  std::int64_t layers;  // how many stacked copies (L, or 1)
  std::int64_t rows;    // per copy
  std::int64_t cols;
};

std::vector<Block> file_blocks(const Llama2cHeader& h) {
  if (h.n_heads < 1 || h.dim < 1)
    throw std::invalid_argument("llama2.c header: dim " + str(h.dim) + " and n_heads " + str(h.n_heads) +
                                " must be >= 1");
  const std::int64_t V = h.vocab_size < 0 ? -static_cast<std::int64_t>(h.vocab_size) : h.vocab_size;
  const std::int64_t L = h.n_layers, D = h.dim, F = h.hidden_dim, hs = h.dim / h.n_heads;
  const std::int64_t q = mul(h.n_heads, hs), kv = mul(h.n_kv_heads, hs);
  std::vector<Block> b = {{"token_embedding", 1, V, D}, {"rms_att_weight", L, 1, D}, {"wq", L, q, D},
                          {"wk", L, kv, D},            {"wv", L, kv, D},          {"wo", L, D, q},
                          {"rms_ffn_weight", L, 1, D}, {"w1", L, F, D},           {"w2", L, D, F},
                          {"w3", L, F, D},             {"rms_final_weight", 1, 1, D},
                          {"freq_cis_real", 1, h.seq_len, hs / 2}, {"freq_cis_imag", 1, h.seq_len, hs / 2}};
  if (h.vocab_size < 0) b.push_back({"wcls", 1, V, D});
  return b;
}

/// The canonical name of copy `l` of a llama2.c block ("" for the skipped RoPE tables).
std::string canonical_name(const std::string& what, std::int64_t l) {
  const std::string layer = "model.layers." + str(l) + ".";
  if (what == "token_embedding") return "model.embed_tokens.weight";
  if (what == "rms_att_weight") return layer + "input_layernorm.weight";
  if (what == "wq") return layer + "self_attn.q_proj.weight";
  if (what == "wk") return layer + "self_attn.k_proj.weight";
  if (what == "wv") return layer + "self_attn.v_proj.weight";
  if (what == "wo") return layer + "self_attn.o_proj.weight";
  if (what == "rms_ffn_weight") return layer + "post_attention_layernorm.weight";
  if (what == "w1") return layer + "mlp.gate_proj.weight";
  if (what == "w2") return layer + "mlp.down_proj.weight";
  if (what == "w3") return layer + "mlp.up_proj.weight";
  if (what == "rms_final_weight") return "model.norm.weight";
  if (what == "wcls") return "lm_head.weight";
  return "";
}

void put_floats(std::vector<std::byte>& out, const Matrix& m) {
  const std::size_t at = out.size();
  out.resize(at + static_cast<std::size_t>(m.size()) * sizeof(float));
  std::memcpy(out.data() + at, m.data(), static_cast<std::size_t>(m.size()) * sizeof(float));
}

}  // namespace

DecoderConfig llama2c_config(const Llama2cHeader& h) {
  // Checked before the negation below: -INT32_MIN does not exist (the fuzzer found it).
  if (h.vocab_size == -2147483647 - 1)
    throw std::invalid_argument("llama2.c header: vocab_size " + str(h.vocab_size) + " has no magnitude in int32");
  DecoderConfig c;
  c.arch = DecoderArch::Llama;
  c.hidden = h.dim;
  c.intermediate = h.hidden_dim;
  c.layers = h.n_layers;
  c.heads = h.n_heads;
  c.kv_heads = h.n_kv_heads;
  c.vocab = h.vocab_size < 0 ? -h.vocab_size : h.vocab_size;
  c.max_seq_len = h.seq_len;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.rope_style = RopeStyle::Interleaved;
  c.tied_embeddings = h.vocab_size > 0;
  c.validate();
  return c;
}

std::int64_t llama2c_file_bytes(const Llama2cHeader& h) {
  std::int64_t floats = 0;
  for (const Block& b : file_blocks(h)) floats = add(floats, mul(mul(b.layers, b.rows), b.cols));
  return add(kLlama2cHeaderBytes, mul(floats, 4));
}

CheckpointContents parse_llama2c(std::span<const std::byte> bytes, const std::string& origin) {
  if (static_cast<std::int64_t>(bytes.size()) < kLlama2cHeaderBytes)
    throw std::invalid_argument(origin + ": " + str(static_cast<long long>(bytes.size())) +
                                " bytes is shorter than the 28-byte llama2.c header (7 int32), and it is no "
                                "safetensors file either");
  std::int32_t f[7];
  std::memcpy(f, bytes.data(), sizeof f);
  const Llama2cHeader h{f[0], f[1], f[2], f[3], f[4], f[5], f[6]};
  CheckpointContents c;
  c.format = "llama2c";
  try {
    c.config = llama2c_config(h);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(origin + ": not a valid llama2.c checkpoint (header " + describe(h) + "): " +
                                e.what());
  }
  const std::int64_t want = llama2c_file_bytes(h);
  const auto have = static_cast<std::int64_t>(bytes.size());
  if (have != want) {
    Llama2cHeader other = h;
    other.vocab_size = -h.vocab_size;
    const std::int64_t alt = llama2c_file_bytes(other);
    throw std::invalid_argument(origin + ": the file is " + str(have) + " bytes but its llama2.c header (" +
                                describe(h) + ") describes " + str(want) + " bytes" +
                                (have == alt ? std::string(" (the size fits vocab_size ") + str(other.vocab_size) +
                                                   ": was the classifier's sign flipped?)"
                                             : std::string(" (truncated, or not a llama2.c checkpoint)")));
  }
  std::int64_t at = kLlama2cHeaderBytes;
  for (const Block& b : file_blocks(h)) {
    for (std::int64_t l = 0; l < b.layers; ++l) {
      const std::string name = canonical_name(b.what, l);
      const std::int64_t n = b.rows * b.cols * 4;
      if (!name.empty()) {
        TensorInfo t;
        t.name = name;
        t.dtype = DType::F32;
        t.shape = b.rows == 1 && std::string(b.what).rfind("rms", 0) == 0 ? std::vector<std::int64_t>{b.cols}
                                                                           : std::vector<std::int64_t>{b.rows, b.cols};
        t.offset = at;
        t.bytes = n;
        c.tensors.push_back(std::move(t));
      }
      at += n;
    }
  }
  check_decoder_tensors(c.config, c.tensors, origin);
  return c;
}

std::vector<std::byte> write_llama2c(const Checkpoint& source) {
  const DecoderConfig& c = source.config();
  const std::string who = "write_llama2c (" + source.origin() + ")";
  if (c.arch != DecoderArch::Llama)
    throw std::invalid_argument(who + ": llama2.c stores Llama decoders only; this one is " +
                                decoder_arch_name(c.arch) + " (write safetensors instead)");
  if (c.norm_eps != 1e-5f || c.rope_theta != 10000.0f || c.rope_style != RopeStyle::Interleaved)
    throw std::invalid_argument(who + ": llama2.c's format fixes eps 1e-5, rope_theta 10000 and interleaved "
                                "rotary pairs, but this checkpoint has " + c.describe() +
                                "; write safetensors to keep them");
  Llama2cHeader h{c.hidden, c.intermediate, c.layers, c.heads, c.kv_heads,
                  c.tied_embeddings ? c.vocab : -c.vocab, c.max_seq_len};
  std::vector<std::byte> out(static_cast<std::size_t>(kLlama2cHeaderBytes));
  const std::int32_t f[7] = {h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len};
  std::memcpy(out.data(), f, sizeof f);
  out.reserve(static_cast<std::size_t>(llama2c_file_bytes(h)));
  const int hs = c.head_dim();
  for (const Block& b : file_blocks(h)) {
    const std::string what = b.what;
    if (what == "freq_cis_real" || what == "freq_cis_imag") {
      // The legacy tables, which readers skip; written as the book computes them.
      Matrix t(h.seq_len, hs / 2);
      for (int pos = 0; pos < h.seq_len; ++pos)
        for (int i = 0; i < hs / 2; ++i) {
          float cs = 0.0f, sn = 0.0f;
          atp::rope_cos_sin(pos, i, hs, c.rope_theta, &cs, &sn);
          t(pos, i) = what == "freq_cis_real" ? cs : sn;
        }
      put_floats(out, t);
      continue;
    }
    for (std::int64_t l = 0; l < b.layers; ++l) put_floats(out, source.read(canonical_name(what, l)));
  }
  return out;
}

}  // namespace atp::sim
