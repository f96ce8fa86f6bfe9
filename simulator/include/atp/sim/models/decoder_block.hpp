/// \file decoder_block.hpp
/// \brief DecoderBlock: one pre-norm transformer block assembled from the
///        chapter layers, with exactly two all-reduces (chapter 7).
///
/// Legend: T = tokens of this forward, H = hidden, p = ranks.
///
///     x (T, H) on every rank
///     h = input_norm(x)                     ReplicatedNorm, every rank the same (no communication)
///     a = attention(h, rotary, cache)       ParallelAttention: QKV column-parallel, RoPE and attention
///                                           per local head, o_proj row-parallel -> all-reduce #1
///     x = x + a                             residual, every rank
///     h = post_attention_norm(x)            ReplicatedNorm
///     m = mlp(h)                            ParallelGatedMLP (Llama) or ParallelMLP (GPT): column,
///                                           activation per rank, row-parallel down -> all-reduce #2
///     x = x + m
///
/// The block never forks a layer: it holds the chapter 4-5 objects and calls
/// them. Its structure (norm, sublayer, residual, twice) is kept in one place,
/// so chapter 12 can replace the two all-reduces by reduce-scatter +
/// all-gather around the norms, and chapter 11 changes their order through
/// DecoderOptions::order. Leaves out: fused residual + norm, dropout.
#pragma once

#include "atp/sim/layers/parallel_attention.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/layers/replicated_norm.hpp"
#include "atp/sim/models/decoder_shard.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"

#include <optional>
#include <string>
#include <vector>

namespace atp::sim {

/// How the decoder's collectives run.
struct DecoderOptions {
  ReduceOrder order = ReduceOrder::RankOrder;             ///< every all-reduce: embedding, o_proj, down
  LogitsCollective logits = LogitsCollective::AllGather;  ///< how the LM head's logits reach the sampler
  /// S of the blocked tree order (order = ReduceOrder::Tree, chapter 11): every
  /// row-parallel dot product is one balanced tree over S segments, and the FFN
  /// is padded to a multiple of S, so tp in {1, 2, 4, ..., S} give the same bits.
  int tree_segments = atp::kDefaultTreeSegments;
};

/// The tree order's S when `options` asks for the tree order, else 0 (what
/// read_decoder_shard and padded_intermediate take).
inline int tree_segments_of(const DecoderOptions& options) {
  return options.order == ReduceOrder::Tree ? options.tree_segments : 0;
}

/// One block on p ranks.
class DecoderBlock {
 public:
  /// Builds block `layer` from every rank's shard (shards[r] is rank r's DecoderShard).
  /// \throws std::invalid_argument if the shards disagree (layers' from_shards messages).
  static DecoderBlock from_shards(const std::vector<DecoderShard>& shards, int layer, DecoderOptions options);

  /// The norm before attention.
  const ReplicatedNorm& input_norm() const { return input_norm_; }
  /// The attention sublayer.
  const ParallelAttention& attention() const { return attention_; }
  /// The norm before the MLP.
  const ReplicatedNorm& post_attention_norm() const { return post_attention_norm_; }
  /// The SwiGLU MLP (Llama), or nullptr.
  const ParallelGatedMLP* gated_mlp() const { return gated_mlp_ ? &*gated_mlp_ : nullptr; }
  /// The GELU MLP (GPT), or nullptr.
  const ParallelMLP* gelu_mlp() const { return gelu_mlp_ ? &*gelu_mlp_ : nullptr; }

  /// x (T, H) on every rank -> the block's output (T, H) on every rank; two
  /// all-reduces, traced as LABEL.attn.o_proj.all_reduce and LABEL.mlp.down.all_reduce.
  /// With `narrate_steps` every intermediate is narrated (when the world narrates).
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, const DecodeContext& context,
                          const std::string& label, bool narrate_steps = false) const;

  /// Puts every weight shard in world.memory() under LABEL.*.
  void account_memory(World& world, const std::string& label) const;

 private:
  DecoderBlock(ReplicatedNorm input_norm, ParallelAttention attention, ReplicatedNorm post_norm,
               std::optional<ParallelGatedMLP> gated, std::optional<ParallelMLP> gelu)
      : input_norm_(std::move(input_norm)), attention_(std::move(attention)),
        post_attention_norm_(std::move(post_norm)), gated_mlp_(std::move(gated)), gelu_mlp_(std::move(gelu)) {}
  ReplicatedNorm input_norm_;
  ParallelAttention attention_;
  ReplicatedNorm post_attention_norm_;
  std::optional<ParallelGatedMLP> gated_mlp_;
  std::optional<ParallelMLP> gelu_mlp_;
};

/// rank r's `member` of every shard, as PerRank (a helper for building layers from shards).
template <class F>
PerRank<Matrix> gather_shards(const std::vector<DecoderShard>& shards, F&& member) {
  return make_per_rank(static_cast<int>(shards.size()),
                       [&](int r) -> Matrix { return member(shards[static_cast<std::size_t>(r)]); });
}

}  // namespace atp::sim
