/// \file decoder_memory.cpp
/// \brief The per-rank memory formula of decoder_memory.hpp.
#include "atp/sim/models/decoder_memory.hpp"

#include "atp/sim/layers/qkv_parallel_linear.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"

#include <algorithm>
#include <stdexcept>

namespace atp::sim {

DecoderMemory decoder_memory_per_rank(const DecoderConfig& c, int p, std::int64_t cached_tokens,
                                      std::int64_t forward_tokens, int tree_segments) {
  check_decoder_tp(c, p);
  if (forward_tokens < 0 || cached_tokens < forward_tokens)
    throw std::invalid_argument("decoder_memory_per_rank: forward of " + std::to_string(forward_tokens) +
                                " tokens with " + std::to_string(cached_tokens) +
                                " cached positions; need 0 <= forward <= cached");
  const bool gpt = c.arch == DecoderArch::GPT;
  const std::int64_t H = c.hidden, S = c.max_seq_len, d = c.head_dim(), L = c.layers;
  const std::int64_t n = vocab_per_rank(c.vocab, p);
  const std::int64_t i_r = padded_intermediate(c, p, tree_segments) / p;
  const HeadAssignment a = head_assignment(c.heads, c.kv_heads, p, 0);
  const std::int64_t nh = a.q_heads.size(), nkv = a.kv_heads.size();
  const std::int64_t qkv_rows = (nh + 2 * nkv) * d;

  std::int64_t w = n * H + (gpt ? S * H : 2 * S * (d / 2));
  std::int64_t block = 2 * H + qkv_rows * H + H * nh * d;
  block += gpt ? 2 * H + qkv_rows + H : 0;
  block += gpt ? i_r * H + i_r + H * i_r + H : 2 * i_r * H + H * i_r;
  w += L * block + H + (gpt ? H : 0) + (c.tied_embeddings ? 0 : n * H);

  const std::int64_t T = forward_tokens, C = cached_tokens;
  const std::int64_t workspace = p > 1 ? p * T * H : 0;
  const std::int64_t attention = T * qkv_rows + T * C + T * nh * d + T * H + workspace;
  const std::int64_t mlp = T * (gpt ? i_r : 2 * i_r) + T * i_r + T * H + workspace;

  DecoderMemory m;
  m.p = p;
  m.weights = 4 * w;
  m.kv_cache = 4 * L * 2 * C * nkv * d;
  m.activations = 4 * (2 * T * H + std::max(attention, mlp));
  return m;
}

DecoderConfig llama2_7b_config() {
  DecoderConfig c;
  c.arch = DecoderArch::Llama;
  c.hidden = 4096;
  c.intermediate = 11008;
  c.layers = 32;
  c.heads = 32;
  c.kv_heads = 32;
  c.vocab = 32000;
  c.max_seq_len = 4096;
  c.tied_embeddings = false;
  return c;
}

}  // namespace atp::sim
