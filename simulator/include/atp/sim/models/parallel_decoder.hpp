/// \file parallel_decoder.hpp
/// \brief ParallelDecoder: a whole decoder-only transformer on p simulated
///        ranks, assembled from the chapter layers; DecoderState: its
///        per-rank KV caches (chapter 7).
///
/// Legend: T = tokens of one forward, H, L, V as in decoder_config.hpp.
///
///     ids (T)                       every rank the same
///     x = embed(ids)                VocabParallelEmbedding: mask, lookup, all-reduce #1     (T, H)
///     [GPT] x = x + pos[positions]  learned positions, replicated
///     for l in 0..L-1:              DecoderBlock: all-reduces #2l+2 and #2l+3
///         x = block_l(x, rotary, cache_l)
///     x = final_norm(x)             ReplicatedNorm
///     z = lm_head(x[T-1])           ParallelLMHead: local logits (1, V_pad/p), then the
///                                   logits collective (all-gather, or gather to rank 0)
///
/// so one token step, prefill or decode, costs 1 + 2L all-reduces and one
/// logits collective, whatever p is (tests/test_ch07_decoder.cpp counts
/// them in the trace). A prefill runs the T prompt tokens at positions
/// 0..T-1 and fills every cache; a decode step runs one token at position
/// cache length, appending one row per cache. forward_embeddings() accepts
/// (T, H) input embeddings instead of ids, and embed_with_features()
/// overwrites the rows of placeholder tokens with given feature rows, as a
/// vision-language model merges image features (chapters 8-9).
///
/// Leaves out: batches of sequences, sampling other than greedy (see
/// generation.hpp), speculative decoding, paged caches.
#pragma once

#include "atp/sim/checkpoint/checkpoint.hpp"
#include "atp/sim/layers/kv_cache.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/layers/replicated_norm.hpp"
#include "atp/sim/layers/rotary_embedding.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"
#include "atp/sim/models/decoder_block.hpp"
#include "atp/sim/models/decoder_shard.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace atp::sim {

/// One sequence's KV caches, one per block, each holding every rank's KV heads.
class DecoderState {
 public:
  /// Caches of `capacity` positions for a decoder of `layers` blocks on p
  /// ranks whose rank-local key width is `width` (nKV_r d).
  DecoderState(int layers, int p, std::int64_t capacity, std::int64_t width);
  /// Positions already processed (the next token's position).
  std::int64_t position() const { return caches_.front().length(); }
  /// Positions the caches can hold.
  std::int64_t capacity() const { return caches_.front().capacity(); }
  /// Block l's cache.
  KVCache& cache(int layer);
  /// Block l's cache (read-only).
  const KVCache& cache(int layer) const;
  /// Number of caches (L).
  int layers() const { return static_cast<int>(caches_.size()); }
  /// Forgets every position.
  void clear();
  /// Puts every cache's reservation in world.memory() as "blockL.kv_cache".
  void account_memory(World& world) const;

 private:
  std::vector<KVCache> caches_;
};

/// A decoder on p simulated ranks.
class ParallelDecoder {
 public:
  /// Every rank reads its own shard from `checkpoint` (read_decoder_shard), its
  /// bytes counted in (*bytes_read)[r] if given; then the layers are built from the shards.
  /// \throws std::invalid_argument if p does not fit the model (lists the valid p).
  static ParallelDecoder load(const Checkpoint& checkpoint, int p, DecoderOptions options = {},
                              PerRank<ReadCounter>* bytes_read = nullptr);
  /// Builds the decoder from shards[r] = rank r's DecoderShard.
  static ParallelDecoder from_shards(const std::vector<DecoderShard>& shards, DecoderOptions options = {});

  /// The model.
  const DecoderConfig& config() const { return config_; }
  /// Ranks.
  int p() const { return embedding_.p(); }
  /// The options.
  const DecoderOptions& options() const { return options_; }
  /// I rounded up to a multiple of p (the FFN each rank slices).
  std::int64_t padded_intermediate() const { return padded_intermediate_; }
  /// The token embedding.
  const VocabParallelEmbedding& embedding() const { return embedding_; }
  /// Every rank's copy of the learned positions (S, H) (GPT), or empty.
  const PerRank<Matrix>& position_embedding() const { return position_embedding_; }
  /// The rotary cos/sin cache (Llama), or nullptr.
  const RotaryEmbedding* rotary() const { return rotary_ ? &*rotary_ : nullptr; }
  /// The blocks.
  const std::vector<DecoderBlock>& blocks() const { return blocks_; }
  /// The final norm.
  const ReplicatedNorm& final_norm() const { return final_norm_; }
  /// The LM head (tied to the embedding's storage, or its own).
  const ParallelLMHead& lm_head() const { return lm_head_; }

  /// A state whose caches hold `capacity` positions (1 <= capacity <= max_seq_len).
  /// \throws std::invalid_argument naming capacity and max_seq_len otherwise.
  DecoderState new_state(std::int64_t capacity) const;

  /// Token embeddings (T, H) on every rank: the vocab-parallel lookup and its all-reduce.
  /// \throws std::invalid_argument for an id outside [0, V) (names it and its position).
  PerRank<Matrix> embed(World& world, const std::vector<std::int64_t>& ids, const std::string& label) const;
  /// embed(), then the rows whose id is `placeholder_id` replaced, in order,
  /// by the rows of `features` (k, H), on every rank: how a VLM puts image
  /// features where its image tokens stand. \throws std::invalid_argument
  /// unless exactly k ids are placeholders and features has H columns.
  PerRank<Matrix> embed_with_features(World& world, const std::vector<std::int64_t>& ids, std::int64_t placeholder_id,
                                      const Matrix& features, const std::string& label) const;
  /// The blocks and the final norm on input embeddings x (T, H) (every rank the
  /// same) at positions state.position() .. + T - 1, appending to every cache
  /// (GPT adds the learned positions first). Returns the final-normed (T, H).
  /// Narrates the first block in full when the world narrates.
  /// \throws std::invalid_argument if the caches cannot hold T more positions.
  PerRank<Matrix> forward_embeddings(World& world, const PerRank<Matrix>& x, DecoderState& state,
                                     const std::string& label) const;
  /// embed() then forward_embeddings().
  PerRank<Matrix> forward(World& world, const std::vector<std::int64_t>& ids, DecoderState& state,
                          const std::string& label) const;
  /// The logits of the last row of `hidden` (T, H): local logits (1, V_pad/p),
  /// then options().logits: (1, V) on every rank (all-gather) or on rank 0 only.
  PerRank<Matrix> last_logits(World& world, const PerRank<Matrix>& hidden, const std::string& label) const;

  /// Puts every weight shard in world.memory() (the tied LM head adds nothing).
  void account_memory(World& world) const;

 private:
  ParallelDecoder(DecoderConfig config, DecoderOptions options, std::int64_t padded_intermediate,
                  VocabParallelEmbedding embedding, PerRank<Matrix> positions, std::optional<RotaryEmbedding> rotary,
                  std::vector<DecoderBlock> blocks, ReplicatedNorm final_norm, ParallelLMHead lm_head)
      : config_(std::move(config)), options_(options), padded_intermediate_(padded_intermediate),
        embedding_(std::move(embedding)), position_embedding_(std::move(positions)), rotary_(std::move(rotary)),
        blocks_(std::move(blocks)), final_norm_(std::move(final_norm)), lm_head_(std::move(lm_head)) {}
  DecoderConfig config_;
  DecoderOptions options_;
  std::int64_t padded_intermediate_;
  VocabParallelEmbedding embedding_;
  PerRank<Matrix> position_embedding_;
  std::optional<RotaryEmbedding> rotary_;
  std::vector<DecoderBlock> blocks_;
  ReplicatedNorm final_norm_;
  ParallelLMHead lm_head_;
};

}  // namespace atp::sim
