/// \file decoder_block.hpp
/// \brief GPU DecoderBlock: this rank's part of one pre-norm block, assembled
///        from the GPU chapter layers, two all-reduces (chapter 7), the twin
///        of atp/sim/models/decoder_block.hpp.
///
///     h = input_norm(x); x = x + attention(h, rotary, cache);   all-reduce #1 (o_proj)
///     h = post_attention_norm(x); x = x + mlp(h)                all-reduce #2 (down)
///
/// Built from this rank's DecoderShard (read by atp::sim::read_decoder_shard,
/// the very function the simulator's ranks use), so both sides hold the same
/// bits. Leaves out: fused residual + norm, sequence parallelism.
#pragma once

#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/layers/parallel_attention.hpp"
#include "atp/cuda/layers/parallel_lm_head.hpp"
#include "atp/cuda/layers/parallel_mlp.hpp"
#include "atp/cuda/layers/replicated_norm.hpp"
#include "atp/sim/models/decoder_shard.hpp"

#include <optional>

namespace atp::cuda {

/// How the decoder's collectives run on the GPU (the twin of atp::sim::DecoderOptions).
struct DecoderOptions {
  AllReduceForm form = AllReduceForm::RankOrder;          ///< every all-reduce: embedding, o_proj, down
  LogitsCollective logits = LogitsCollective::AllGather;  ///< how the LM head's logits reach the sampler
  /// S of the blocked tree order (form = AllReduceForm::Tree, chapter 11), as atp::sim::DecoderOptions.
  int tree_segments = atp::kDefaultTreeSegments;
};

/// The tree order's S when `options` asks for AllReduceForm::Tree, else 0 (what read_decoder_shard takes).
inline int tree_segments_of(const DecoderOptions& options) {
  return options.form == AllReduceForm::Tree ? options.tree_segments : 0;
}

/// One block on this rank.
class DecoderBlock {
 public:
  /// Uploads block `layer` of this rank's shard.
  /// \throws std::invalid_argument as the GPU layers' from_shard.
  static DecoderBlock from_shard(const atp::sim::DecoderShard& shard, int layer, DecoderOptions options);

  /// The attention sublayer.
  const ParallelAttention& attention() const { return attention_; }

  /// x (T, H) -> the block's output (T, H), the same on every rank; two all-reduces. Returns once finished.
  DeviceMatrix forward(Communicator& comm, const DeviceMatrix& x, const DecodeContext& context) const;

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

}  // namespace atp::cuda
