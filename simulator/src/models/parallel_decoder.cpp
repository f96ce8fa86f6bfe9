/// \file parallel_decoder.cpp
/// \brief ParallelDecoder on the simulator: loading per-rank shards, the forward from ids or embeddings, the logits.
#include "atp/sim/models/parallel_decoder.hpp"

#include "atp/sim/narrate.hpp"

#include <memory>
#include <stdexcept>
#include <utility>

namespace atp::sim {
namespace {

std::string str(long long v) { return std::to_string(v); }

}  // namespace

// ---------------------------------------------------------------------------
// DecoderState
// ---------------------------------------------------------------------------

DecoderState::DecoderState(int layers, int p, std::int64_t capacity, std::int64_t width) {
  if (layers < 1) throw std::invalid_argument("DecoderState: layers " + str(layers) + " must be >= 1");
  for (int l = 0; l < layers; ++l) caches_.emplace_back(p, capacity, width);
}

KVCache& DecoderState::cache(int layer) {
  if (layer < 0 || layer >= layers())
    throw std::invalid_argument("DecoderState: layer " + str(layer) + " out of range; valid 0.." + str(layers() - 1));
  return caches_[static_cast<std::size_t>(layer)];
}

const KVCache& DecoderState::cache(int layer) const { return const_cast<DecoderState*>(this)->cache(layer); }

void DecoderState::clear() {
  for (KVCache& c : caches_) c.clear();
}

void DecoderState::account_memory(World& world) const {
  for (std::size_t l = 0; l < caches_.size(); ++l) caches_[l].account_memory(world, "block" + str(static_cast<long long>(l)) + ".kv_cache");
}

// ---------------------------------------------------------------------------
// ParallelDecoder
// ---------------------------------------------------------------------------

ParallelDecoder ParallelDecoder::load(const Checkpoint& checkpoint, int p, DecoderOptions options,
                                      PerRank<ReadCounter>* bytes_read) {
  check_decoder_tp(checkpoint.config(), p);
  if (bytes_read != nullptr) *bytes_read = PerRank<ReadCounter>(p);
  std::vector<DecoderShard> shards;
  // Rank r reads rank r's blocks only: in one process this is a loop, on GPUs each process runs one iteration.
  for (int r = 0; r < p; ++r)
    shards.push_back(read_decoder_shard(checkpoint, r, p, bytes_read != nullptr ? &(*bytes_read)[r] : nullptr,
                                        tree_segments_of(options)));
  return from_shards(shards, options);
}

ParallelDecoder ParallelDecoder::from_shards(const std::vector<DecoderShard>& shards, DecoderOptions options) {
  if (shards.empty()) throw std::invalid_argument("ParallelDecoder::from_shards: no shards (need one per rank)");
  const DecoderConfig& c = shards[0].config;
  const bool gpt = c.arch == DecoderArch::GPT;
  const int p = static_cast<int>(shards.size());
  VocabParallelEmbedding embedding = VocabParallelEmbedding::from_shards(
      gather_shards(shards, [](const DecoderShard& s) { return s.embedding; }), c.vocab, options.order);
  PerRank<Matrix> positions(p);
  if (gpt) positions = gather_shards(shards, [](const DecoderShard& s) { return s.position_embedding; });
  std::optional<RotaryEmbedding> rotary;
  if (!gpt) rotary.emplace(c.head_dim(), c.max_seq_len, c.rope_theta, c.rope_style);
  std::vector<DecoderBlock> blocks;
  for (int l = 0; l < c.layers; ++l) blocks.push_back(DecoderBlock::from_shards(shards, l, options));
  auto final_w = gather_shards(shards, [](const DecoderShard& s) { return s.final_norm_weight; });
  ReplicatedNorm final_norm =
      gpt ? ReplicatedNorm::layer(std::move(final_w),
                                  gather_shards(shards, [](const DecoderShard& s) { return s.final_norm_bias; }),
                                  c.norm_eps)
          : ReplicatedNorm::rms(std::move(final_w), c.norm_eps);
  ParallelLMHead head = c.tied_embeddings
                            ? ParallelLMHead::tied(embedding)
                            : ParallelLMHead::from_shards(
                                  gather_shards(shards, [](const DecoderShard& s) { return s.lm_head; }), c.vocab);
  return ParallelDecoder(c, options, shards[0].padded_intermediate, std::move(embedding), std::move(positions),
                         std::move(rotary), std::move(blocks), std::move(final_norm), std::move(head));
}

DecoderState ParallelDecoder::new_state(std::int64_t capacity) const {
  if (capacity < 1 || capacity > config_.max_seq_len)
    throw std::invalid_argument("a KV cache of " + str(capacity) + " positions is outside [1, max_seq_len " +
                                str(config_.max_seq_len) + "]");
  const auto& qkv = blocks_.front().attention().qkv();
  return DecoderState(config_.layers, p(), capacity,
                      static_cast<std::int64_t>(qkv.num_kv_heads_per_rank()) * qkv.head_dim());
}

PerRank<Matrix> ParallelDecoder::embed(World& world, const std::vector<std::int64_t>& ids,
                                       const std::string& label) const {
  return embedding_.forward(world, ids, label + ".embed");
}

PerRank<Matrix> ParallelDecoder::embed_with_features(World& world, const std::vector<std::int64_t>& ids,
                                                     std::int64_t placeholder_id, const Matrix& features,
                                                     const std::string& label) const {
  std::vector<Eigen::Index> rows;
  for (std::size_t t = 0; t < ids.size(); ++t)
    if (ids[t] == placeholder_id) rows.push_back(static_cast<Eigen::Index>(t));
  if (static_cast<Eigen::Index>(rows.size()) != features.rows() || features.cols() != config_.hidden)
    throw std::invalid_argument("embed_with_features: " + str(static_cast<long long>(rows.size())) +
                                " tokens are the placeholder id " + str(placeholder_id) + " but the features are " +
                                shape_string(features) + "; need one row of hidden size " + str(config_.hidden) +
                                " per placeholder");
  PerRank<Matrix> x = embed(world, ids, label);
  for (Matrix& m : x)
    for (std::size_t i = 0; i < rows.size(); ++i) m.row(rows[i]) = features.row(static_cast<Eigen::Index>(i));
  narrate(world, label + ": embeddings with the placeholder rows replaced by the features", x);
  return x;
}

PerRank<Matrix> ParallelDecoder::forward_embeddings(World& world, const PerRank<Matrix>& x, DecoderState& state,
                                                    const std::string& label) const {
  if (x.size() != p())
    throw std::invalid_argument("forward_embeddings: x holds " + str(x.size()) + " ranks, the decoder " + str(p()));
  const std::int64_t T = x[0].rows(), first = state.position();
  for (int r = 0; r < p(); ++r)
    if (x[r].rows() != T || x[r].cols() != config_.hidden)
      throw std::invalid_argument("forward_embeddings: x on rank " + str(r) + " is " + shape_string(x[r]) +
                                  ", expected (T, " + str(config_.hidden) + ") with the same T on every rank");
  if (state.layers() != config_.layers || first + T > state.capacity())
    throw std::invalid_argument("forward_embeddings: " + str(T) + " tokens after position " + str(first) +
                                " do not fit a KV cache of " + str(state.capacity()) + " positions (" +
                                str(state.layers()) + " layers for a decoder of " + str(config_.layers) + ")");
  PerRank<Matrix> h = x;
  if (config_.arch == DecoderArch::GPT)
    h = make_per_rank(p(), [&](int r) -> Matrix {
      return residual_add(x[r], position_embedding_[r].middleRows(first, T));  // learned positions, replicated
    });
  for (int l = 0; l < config_.layers; ++l) {
    DecodeContext context{rotary(), &state.cache(l), 0};
    const std::string name = label + ".block" + str(l);
    if (l == 0) {
      h = blocks_[0].forward(world, h, context, name, world.narrator() != nullptr);
    } else {
      NarrationPause quiet(world);  // one block narrated is enough; the others do the same
      h = blocks_[static_cast<std::size_t>(l)].forward(world, h, context, name);
    }
  }
  PerRank<Matrix> out = final_norm_.forward(world, h, label + ".final_norm");
  if (config_.layers > 1)
    narrate(world, label + ": after " + str(config_.layers) + " blocks and the final norm (blocks 1.." +
                       str(config_.layers - 1) + " ran unnarrated, each with the same two all-reduces)",
            out);
  return out;
}

PerRank<Matrix> ParallelDecoder::forward(World& world, const std::vector<std::int64_t>& ids, DecoderState& state,
                                         const std::string& label) const {
  return forward_embeddings(world, embed(world, ids, label), state, label);
}

PerRank<Matrix> ParallelDecoder::last_logits(World& world, const PerRank<Matrix>& hidden,
                                             const std::string& label) const {
  const auto last = make_per_rank(p(), [&](int r) -> Matrix { return hidden[r].bottomRows(1); });
  return lm_head_.forward(world, last, options_.logits, label + ".lm_head");
}

void ParallelDecoder::account_memory(World& world) const {
  embedding_.account_memory(world, "embed_tokens");
  if (config_.arch == DecoderArch::GPT)
    for (int r = 0; r < p(); ++r) world.memory().hold(r, MemoryKind::Weight, "embed_positions", position_embedding_[r]);
  if (rotary_) rotary_->account_memory(world, "rotary");
  for (std::size_t l = 0; l < blocks_.size(); ++l) blocks_[l].account_memory(world, "block" + str(static_cast<long long>(l)));
  final_norm_.account_memory(world, "final_norm");
  lm_head_.account_memory(world, "lm_head", &embedding_);
}

}  // namespace atp::sim
