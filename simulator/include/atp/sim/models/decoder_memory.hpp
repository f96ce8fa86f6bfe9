/// \file decoder_memory.hpp
/// \brief Bytes per rank of a tensor-parallel decoder, computed from its
///        shape alone: weights, KV cache, activations (chapter 7).
///
/// Legend: H, I, L, nH, nKV, d, V, S as in decoder_config.hpp; p ranks;
/// n = V_pad / p; i_r = I_p / p (the padded FFN slice); nH_r = nH / p;
/// nKV_r = max(nKV / p, 1) (a replicated KV head counts on every rank that
/// holds it); C = positions cached; T = tokens of one forward; all fp32.
///
///     weights     = n H (embedding) [+ S H learned positions, GPT] [+ 2 S d/2 rotary cache, Llama]
///                 + L [ 2 H norms (+2 H biases, GPT)
///                       + (nH_r + 2 nKV_r) d H (QKV shard) (+ its bias, GPT)
///                       + H nH_r d (o_proj shard) (+ H bias, GPT)
///                       + 2 i_r H + H i_r (gate/up, down; Llama) or i_r H + i_r + H i_r + H (GPT) ]
///                 + H final norm (+ H, GPT) [+ n H untied LM head]
///     kv_cache    = L 2 C nKV_r d
///     activations = the peak of one block's live tensors during a forward of T tokens:
///                   x and h (2 T H), plus the larger of
///                   attention: qkv T (nH_r + 2 nKV_r) d + one head's scores T C + context T nH_r d
///                              + partial sums T H + the rank-order all-reduce's gathered inputs p T H (p > 1)
///                   MLP:       T 2 i_r (gate|up; T i_r for GPT) + activated T i_r + partial sums T H
///                              + p T H (p > 1)
///
/// (all times 4 bytes). The weights and KV-cache lines are exactly what
/// ParallelDecoder::account_memory and DecoderState::account_memory put in
/// the ledger (tests/test_ch07_decoder.cpp checks it for the shipped model);
/// the activation line is the simulator's own peak (one head's scores at a
/// time, as attention_head computes them). Nothing is allocated, so a 7B
/// shape costs nothing to tabulate. Leaves out: allocator slack, NCCL
/// buffers, CUDA workspaces, the logits (V_pad floats).
#pragma once

#include "atp/sim/models/decoder_config.hpp"

#include <cstdint>

namespace atp::sim {

/// Bytes one rank holds.
struct DecoderMemory {
  int p = 1;                    ///< ranks
  std::int64_t weights = 0;     ///< every weight shard and replicated weight
  std::int64_t kv_cache = 0;    ///< keys and values of C positions, its KV heads
  std::int64_t activations = 0; ///< the block's peak during a forward of T tokens
  /// Sum of the three.
  std::int64_t total() const { return weights + kv_cache + activations; }
};

/// The formula of the file comment for rank 0 of p (every rank holds the same
/// amount). \throws std::invalid_argument as check_decoder_tp, or if
/// cached_tokens < forward_tokens or either is < 0. tree_segments as
/// padded_intermediate (the FFN padding of the tree order).
DecoderMemory decoder_memory_per_rank(const DecoderConfig& config, int p, std::int64_t cached_tokens,
                                      std::int64_t forward_tokens, int tree_segments = 0);

/// Llama-2-7B's shape: H 4096, I 11008, L 32, nH = nKV = 32, V 32000, S 4096, untied.
DecoderConfig llama2_7b_config();

}  // namespace atp::sim
