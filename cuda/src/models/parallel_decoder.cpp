/// \file parallel_decoder.cpp
/// \brief GPU ParallelDecoder: shard upload, the forward from ids or embeddings, the logits, greedy generation.
#include "atp/cuda/models/parallel_decoder.hpp"

#include "atp/cuda/check.hpp"
#include "atp/cuda/kernels.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"
#include "atp/sim/models/generation.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

std::string str(long long v) { return std::to_string(v); }

/// Rows [first, first + n) of m, copied (bits only).
DeviceMatrix rows_of(const DeviceMatrix& m, std::int64_t first, std::int64_t n, cudaStream_t stream) {
  DeviceMatrix out(n, m.cols());
  if (out.size() > 0)
    ATP_CUDA_CHECK(cudaMemcpyAsync(out.data(), m.data() + static_cast<std::size_t>(first) * m.cols(),
                                   out.size() * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  return out;
}

}  // namespace

DecoderState::DecoderState(int layers, std::int64_t capacity, std::int64_t width) {
  if (layers < 1) throw std::invalid_argument("DecoderState: layers " + str(layers) + " must be >= 1");
  for (int l = 0; l < layers; ++l) caches_.emplace_back(capacity, width);
}

KVCache& DecoderState::cache(int layer) {
  if (layer < 0 || layer >= layers())
    throw std::invalid_argument("DecoderState: layer " + str(layer) + " out of range; valid 0.." + str(layers() - 1));
  return caches_[static_cast<std::size_t>(layer)];
}

ParallelDecoder ParallelDecoder::load(const atp::sim::Checkpoint& checkpoint, const Communicator& comm,
                                      DecoderOptions options, atp::sim::ReadCounter* bytes_read) {
  // The simulator's reader: this rank copies out its own blocks and no others.
  const atp::sim::DecoderShard shard =
      atp::sim::read_decoder_shard(checkpoint, comm.rank(), comm.world_size(), bytes_read, tree_segments_of(options));
  return from_shard(shard, options, comm.stream());
}

ParallelDecoder ParallelDecoder::from_shard(const atp::sim::DecoderShard& s, DecoderOptions options,
                                            cudaStream_t stream) {
  const atp::sim::DecoderConfig& c = s.config;
  const bool gpt = c.arch == atp::sim::DecoderArch::GPT;
  VocabParallelEmbedding embedding = VocabParallelEmbedding::from_shard(s.embedding, c.vocab, s.rank, s.p);
  std::optional<RotaryEmbedding> rotary;
  if (!gpt) rotary.emplace(c.head_dim(), c.max_seq_len, c.rope_theta, c.rope_style, stream);
  std::vector<DecoderBlock> blocks;
  for (int l = 0; l < c.layers; ++l) blocks.push_back(DecoderBlock::from_shard(s, l, options));
  ReplicatedNorm final_norm = gpt ? ReplicatedNorm::layer(s.final_norm_weight, s.final_norm_bias, c.norm_eps)
                                  : ReplicatedNorm::rms(s.final_norm_weight, c.norm_eps);
  ParallelLMHead head = c.tied_embeddings ? ParallelLMHead::tied(embedding)
                                          : ParallelLMHead::from_shard(s.lm_head, c.vocab, s.rank, s.p);
  const atp::sim::HeadAssignment a = atp::sim::head_assignment(c.heads, c.kv_heads, s.p, s.rank);
  return ParallelDecoder(c, options, std::move(embedding), gpt ? to_device(s.position_embedding) : DeviceMatrix(),
                         std::move(rotary), std::move(blocks), std::move(final_norm), std::move(head),
                         static_cast<std::int64_t>(a.kv_heads.size()) * c.head_dim());
}

DecoderState ParallelDecoder::new_state(std::int64_t capacity) const {
  if (capacity < 1 || capacity > config_.max_seq_len)
    throw std::invalid_argument("a KV cache of " + str(capacity) + " positions is outside [1, max_seq_len " +
                                str(config_.max_seq_len) + "]");
  return DecoderState(config_.layers, capacity, kv_width_);
}

DeviceMatrix ParallelDecoder::embed(Communicator& comm, const std::vector<std::int64_t>& ids) const {
  return embedding_.forward(comm, ids, options_.form);
}

DeviceMatrix ParallelDecoder::embed_with_features(Communicator& comm, const std::vector<std::int64_t>& ids,
                                                  std::int64_t placeholder_id, const Matrix& features) const {
  std::vector<std::size_t> rows;
  for (std::size_t t = 0; t < ids.size(); ++t)
    if (ids[t] == placeholder_id) rows.push_back(t);
  if (static_cast<Eigen::Index>(rows.size()) != features.rows() || features.cols() != config_.hidden)
    throw std::invalid_argument("embed_with_features: " + str(static_cast<long long>(rows.size())) +
                                " tokens are the placeholder id " + str(placeholder_id) + " but the features are " +
                                shape_string(features) + "; need one row of hidden size " + str(config_.hidden) +
                                " per placeholder");
  DeviceMatrix x = embed(comm, ids);
  const DeviceMatrix f = to_device(features, comm.stream());
  for (std::size_t i = 0; i < rows.size(); ++i)
    ATP_CUDA_CHECK(cudaMemcpyAsync(x.data() + rows[i] * static_cast<std::size_t>(x.cols()),
                                   f.data() + i * static_cast<std::size_t>(f.cols()), f.cols() * sizeof(float),
                                   cudaMemcpyDeviceToDevice, comm.stream()));
  comm.wait("ParallelDecoder::embed_with_features");
  return x;
}

DeviceMatrix ParallelDecoder::forward_embeddings(Communicator& comm, const DeviceMatrix& x, DecoderState& state) const {
  const std::int64_t T = x.rows(), first = state.position();
  if (x.cols() != config_.hidden)
    throw std::invalid_argument("forward_embeddings: x is " + x.shape() + ", expected (T, " + str(config_.hidden) + ")");
  if (state.layers() != config_.layers || first + T > state.capacity())
    throw std::invalid_argument("forward_embeddings: " + str(T) + " tokens after position " + str(first) +
                                " do not fit a KV cache of " + str(state.capacity()) + " positions");
  DeviceMatrix h = rows_of(x, 0, T, comm.stream());
  if (config_.arch == atp::sim::DecoderArch::GPT)
    h = residual_add(x, rows_of(position_embedding_, first, T, comm.stream()), comm.stream());  // learned positions
  for (int l = 0; l < config_.layers; ++l) {
    DecodeContext context{rotary(), &state.cache(l), 0};
    h = blocks_[static_cast<std::size_t>(l)].forward(comm, h, context);
  }
  DeviceMatrix out = final_norm_.forward(h, comm.stream());
  comm.wait("ParallelDecoder::forward_embeddings");
  return out;
}

DeviceMatrix ParallelDecoder::forward(Communicator& comm, const std::vector<std::int64_t>& ids,
                                      DecoderState& state) const {
  return forward_embeddings(comm, embed(comm, ids), state);
}

DeviceMatrix ParallelDecoder::last_logits(Communicator& comm, const DeviceMatrix& hidden) const {
  const DeviceMatrix last = rows_of(hidden, hidden.rows() - 1, 1, comm.stream());
  return lm_head_.forward(comm, last, options_.logits);
}

std::vector<GenerationStep> greedy_generate(Communicator& comm, const ParallelDecoder& decoder, DecoderState& state,
                                            const std::vector<std::int64_t>& prompt, int steps,
                                            const std::function<void(const GenerationStep&)>& on_step) {
  const atp::sim::DecoderConfig& c = decoder.config();
  if (prompt.empty()) throw std::invalid_argument("greedy_generate: the prompt is empty; it needs at least BOS");
  if (steps < 1) throw std::invalid_argument("greedy_generate: steps " + str(steps) + " must be >= 1");
  const auto total = static_cast<std::int64_t>(prompt.size()) + steps;
  if (total > c.max_seq_len)
    throw std::invalid_argument("the prompt (" + str(static_cast<long long>(prompt.size())) + " tokens) and " +
                                str(steps) + " steps make " + str(total) + " tokens, more than max_seq_len " +
                                str(c.max_seq_len));
  const std::int64_t need = atp::sim::generation_positions(static_cast<std::int64_t>(prompt.size()), steps);
  if (state.position() != 0 || state.capacity() < need)
    throw std::invalid_argument("greedy_generate: the state must be empty with room for " + str(need) + " positions");
  std::vector<GenerationStep> out;
  std::vector<std::int64_t> input = prompt;
  for (int k = 0; k < steps; ++k) {
    GenerationStep s;
    s.step = k;
    s.position = state.position();
    s.tokens_in = static_cast<std::int64_t>(input.size());
    const DeviceMatrix logits = decoder.last_logits(comm, decoder.forward(comm, input, state));
    s.logits = to_host(logits, comm.stream());
    std::int64_t id = s.logits.size() > 0 ? atp::sim::dense_argmax(s.logits)[0] : 0;
    if (decoder.options().logits == LogitsCollective::Gather) {
      // Only rank 0 holds the logits: it picks and tells every rank (one float, exact below 2^24).
      Matrix pick = Matrix::Constant(1, 1, static_cast<float>(id));
      DeviceMatrix d = to_device(pick, comm.stream());
      broadcast(comm, d, 0);
      id = static_cast<std::int64_t>(to_host(d, comm.stream())(0, 0));
    }
    s.token = id;
    if (on_step) on_step(s);
    out.push_back(std::move(s));
    input = {id};
  }
  return out;
}

}  // namespace atp::cuda
