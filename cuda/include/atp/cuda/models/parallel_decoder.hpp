/// \file parallel_decoder.hpp
/// \brief GPU ParallelDecoder: this rank's part of a whole decoder on NCCL
///        ranks, assembled from the GPU chapter layers; DecoderState: this
///        rank's KV caches; greedy generation (chapter 7). The twin of
///        atp/sim/models/parallel_decoder.hpp and generation.hpp.
///
///     ids -> VocabParallelEmbedding (masked lookup, all-reduce #1) [+ positions, GPT]
///         -> L x DecoderBlock (two all-reduces each) -> ReplicatedNorm
///         -> ParallelLMHead on the last row (local logits, all-gather or gather)
///
/// Each rank reads its own shard of the checkpoint (atp::sim::read_decoder_shard,
/// the simulator's function) and uploads it. Every kernel keeps its CPU twin's
/// order, and with AllReduceForm::RankOrder (or Ring) every tensor, KV caches
/// and logits included, is designed to equal the simulator's bits.
/// Leaves out: batches, CUDA graphs, overlapping communication with compute.
#pragma once

#include "atp/cuda/layers/kv_cache.hpp"
#include "atp/cuda/layers/rotary_embedding.hpp"
#include "atp/cuda/layers/vocab_parallel_embedding.hpp"
#include "atp/cuda/models/decoder_block.hpp"
#include "atp/sim/checkpoint/checkpoint.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace atp::cuda {

/// This rank's KV caches, one per block.
class DecoderState {
 public:
  /// `layers` caches of `capacity` positions of width nKV_r d.
  DecoderState(int layers, std::int64_t capacity, std::int64_t width);
  /// Positions processed so far.
  std::int64_t position() const { return caches_.front().length(); }
  /// Positions the caches hold.
  std::int64_t capacity() const { return caches_.front().capacity(); }
  /// Block l's cache. \throws std::invalid_argument for a bad layer.
  KVCache& cache(int layer);
  /// Number of caches.
  int layers() const { return static_cast<int>(caches_.size()); }

 private:
  std::vector<KVCache> caches_;
};

/// This rank's part of a decoder.
class ParallelDecoder {
 public:
  /// Reads this rank's shard (comm.rank() of comm.world_size()) and uploads it;
  /// the bytes read are counted in `bytes_read` if given.
  /// \throws std::invalid_argument if the tp does not fit the model (lists the valid tp).
  static ParallelDecoder load(const atp::sim::Checkpoint& checkpoint, const Communicator& comm,
                              DecoderOptions options = {}, atp::sim::ReadCounter* bytes_read = nullptr);
  /// Uploads a shard already read.
  static ParallelDecoder from_shard(const atp::sim::DecoderShard& shard, DecoderOptions options,
                                    cudaStream_t stream = nullptr);

  /// The model.
  const atp::sim::DecoderConfig& config() const { return config_; }
  /// The options.
  const DecoderOptions& options() const { return options_; }
  /// The token embedding.
  const VocabParallelEmbedding& embedding() const { return embedding_; }
  /// The rotary cache (Llama), or nullptr.
  const RotaryEmbedding* rotary() const { return rotary_ ? &*rotary_ : nullptr; }
  /// The blocks.
  const std::vector<DecoderBlock>& blocks() const { return blocks_; }

  /// A state of `capacity` positions. \throws std::invalid_argument outside [1, max_seq_len].
  DecoderState new_state(std::int64_t capacity) const;
  /// Token embeddings (T, H): the masked lookup and its all-reduce.
  DeviceMatrix embed(Communicator& comm, const std::vector<std::int64_t>& ids) const;
  /// embed(), then the rows of `placeholder_id` tokens replaced in order by the rows of features (k, H).
  DeviceMatrix embed_with_features(Communicator& comm, const std::vector<std::int64_t>& ids,
                                   std::int64_t placeholder_id, const Matrix& features) const;
  /// The blocks and the final norm on x (T, H) at positions state.position()..; appends to the caches.
  DeviceMatrix forward_embeddings(Communicator& comm, const DeviceMatrix& x, DecoderState& state) const;
  /// embed() then forward_embeddings().
  DeviceMatrix forward(Communicator& comm, const std::vector<std::int64_t>& ids, DecoderState& state) const;
  /// The logits (1, V) of the last row of hidden (T, H): on every rank (all-gather) or rank 0 ((0, 0) elsewhere).
  DeviceMatrix last_logits(Communicator& comm, const DeviceMatrix& hidden) const;

 private:
  ParallelDecoder(atp::sim::DecoderConfig config, DecoderOptions options, VocabParallelEmbedding embedding,
                  DeviceMatrix positions, std::optional<RotaryEmbedding> rotary, std::vector<DecoderBlock> blocks,
                  ReplicatedNorm final_norm, ParallelLMHead lm_head, std::int64_t kv_width)
      : config_(std::move(config)), options_(options), embedding_(std::move(embedding)),
        position_embedding_(std::move(positions)), rotary_(std::move(rotary)), blocks_(std::move(blocks)),
        final_norm_(std::move(final_norm)), lm_head_(std::move(lm_head)), kv_width_(kv_width) {}
  atp::sim::DecoderConfig config_;
  DecoderOptions options_;
  VocabParallelEmbedding embedding_;
  DeviceMatrix position_embedding_;
  std::optional<RotaryEmbedding> rotary_;
  std::vector<DecoderBlock> blocks_;
  ReplicatedNorm final_norm_;
  ParallelLMHead lm_head_;
  std::int64_t kv_width_;
};

/// What one generation step did on this rank.
struct GenerationStep {
  int step = 0;               ///< 0 = prefill
  std::int64_t position = 0;  ///< position of the step's first input token
  std::int64_t tokens_in = 0; ///< tokens fed
  std::int64_t token = 0;     ///< the id picked (the same on every rank)
  Matrix logits;              ///< (1, V) on rank 0 (and every rank with all-gather); (0, 0) elsewhere
};

/// Greedy generation as atp::sim::greedy_generate: the lowest id among the
/// largest logits; with LogitsCollective::Gather rank 0 picks and broadcasts it.
/// \throws std::invalid_argument as the simulator's (empty prompt, steps, max_seq_len, state).
std::vector<GenerationStep> greedy_generate(Communicator& comm, const ParallelDecoder& decoder, DecoderState& state,
                                            const std::vector<std::int64_t>& prompt, int steps,
                                            const std::function<void(const GenerationStep&)>& on_step = {});

}  // namespace atp::cuda
