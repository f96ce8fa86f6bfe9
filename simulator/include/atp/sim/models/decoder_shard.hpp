/// \file decoder_shard.hpp
/// \brief DecoderShard: what rank r of p reads out of a checkpoint, and only
///        that (chapter 7). The simulator reads one per rank; a GPU rank reads its own.
///
/// Legend: H, I, L, nH, nKV, d, V as in decoder_config.hpp; p ranks;
/// n = V_pad / p vocabulary rows per rank; I_p = I rounded up to a multiple
/// of p (padded_intermediate()); i_r = I_p / p FFN columns per rank.
///
///     tensor (master)                 rank r reads                          layer (chapters 2-6)
///     embed_tokens (V, H)             rows [r n, (r+1) n) ∩ [0, V), + zero rows   VocabParallelEmbedding
///     q/k/v_proj                      its heads' rows (qkv_shard_rows)       QKVParallelLinear (stacked)
///     o_proj (H, nH d)                columns of its query heads             RowParallelLinear
///     gate_proj, up_proj (I, H)       rows [r i_r, (r+1) i_r) ∩ [0, I) + zero rows   MergedColumnParallelLinear
///     down_proj (H, I)                the same columns + zero columns        RowParallelLinear
///     norms, biases of row layers,    all of it (replicated)                 ReplicatedNorm, the bias added once
///     embed_positions (GPT)
///     lm_head (V, H), if untied       as embed_tokens                        ParallelLMHead
///
/// FFN padding (p = 8 for I = 172 -> 176): the padded gate and up rows are
/// zero, so their outputs are x 0 = +0 exactly; silu(+0) * (+0) = +0; the
/// padded down columns are zero and multiply that +0: each padded term of a
/// down-projection dot product is fma(+0, +0, acc) = acc. Nothing a real
/// column computes changes, so the padded layer is the unpadded layer split
/// unevenly (22 columns on ranks 0-6, 18 real + 4 padding on rank 7). This
/// is how serving systems make awkward widths divisible (3420 -> 3424).
/// tests/test_ch07_decoder.cpp checks it bit for bit.
///
/// Every read goes through Checkpoint::read_block with the rank's
/// ReadCounter, so the bytes a rank read are counted and, for a memory-mapped
/// file, only those pages are touched. Leaves out: sharded checkpoint files
/// (each rank would open only its own file), quantised weights.
#pragma once

#include "atp/sim/checkpoint/checkpoint.hpp"
#include "atp/sim/models/decoder_config.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <vector>

namespace atp::sim {

/// One block's weights as rank r holds them; absent parts are (0, 0).
struct BlockShard {
  Matrix input_norm_weight;  ///< (1, H), every rank
  Matrix input_norm_bias;    ///< (1, H) GPT, every rank
  Matrix qkv_weight;         ///< ((nH/p + 2 nKV_r) d, H): [Wq rows; Wk rows; Wv rows] of its heads
  Matrix qkv_bias;           ///< (1, that) GPT
  Matrix o_weight;           ///< (H, nH/p d): the columns of Wo its query heads feed
  Matrix o_bias;             ///< (1, H) GPT, every rank (added once, after the all-reduce)
  Matrix post_norm_weight;   ///< (1, H), every rank
  Matrix post_norm_bias;     ///< (1, H) GPT, every rank
  Matrix mlp_in_weight;      ///< Llama: [gate rows; up rows] (2 i_r, H); GPT: up rows (i_r, H)
  Matrix mlp_in_bias;        ///< GPT: (1, i_r)
  Matrix mlp_down_weight;    ///< (H, i_r): the matching columns of down_proj
  Matrix mlp_down_bias;      ///< (1, H) GPT, every rank (added once, after the all-reduce)
};

/// Everything rank r of p holds of a decoder.
struct DecoderShard {
  int rank = 0;                       ///< r
  int p = 1;                          ///< tensor-parallel size
  DecoderConfig config;               ///< the model
  std::int64_t padded_intermediate = 0;  ///< I_p (= I unless p, or the tree order's S, does not divide I)
  Matrix embedding;                   ///< (n, H): its vocabulary rows, zero-padded
  Matrix position_embedding;          ///< (S, H) GPT, every rank; (0, 0) for Llama
  std::vector<BlockShard> blocks;     ///< L blocks
  Matrix final_norm_weight;           ///< (1, H), every rank
  Matrix final_norm_bias;             ///< (1, H) GPT
  Matrix lm_head;                     ///< (n, H) when untied; (0, 0) when tied to the embedding
};

/// Reads rank `rank`'s shard of every tensor of `checkpoint` for p ranks,
/// counting the bytes in `counter` (if given). tree_segments > 0 pads the FFN
/// for the blocked tree order (padded_intermediate(config, p, tree_segments)).
/// \throws std::invalid_argument from check_decoder_tp (p does not fit the
///         model, with the valid p) or naming a bad rank.
DecoderShard read_decoder_shard(const Checkpoint& checkpoint, int rank, int p, ReadCounter* counter = nullptr,
                                int tree_segments = 0);

}  // namespace atp::sim
