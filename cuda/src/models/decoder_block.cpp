/// \file decoder_block.cpp
/// \brief GPU DecoderBlock: the layers from this rank's shard, the pre-norm forward.
#include "atp/cuda/models/decoder_block.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

ReplicatedNorm make_norm(const atp::sim::DecoderConfig& c, const Matrix& weight, const Matrix& bias) {
  return c.arch == atp::sim::DecoderArch::GPT ? ReplicatedNorm::layer(weight, bias, c.norm_eps)
                                              : ReplicatedNorm::rms(weight, c.norm_eps);
}

}  // namespace

DecoderBlock DecoderBlock::from_shard(const atp::sim::DecoderShard& shard, int layer, DecoderOptions options) {
  const atp::sim::DecoderConfig& c = shard.config;
  if (layer < 0 || layer >= c.layers)
    throw std::invalid_argument("DecoderBlock::from_shard: layer " + std::to_string(layer) + " out of range; valid 0.." +
                                std::to_string(c.layers - 1));
  const atp::sim::BlockShard& b = shard.blocks[static_cast<std::size_t>(layer)];
  const bool gpt = c.arch == atp::sim::DecoderArch::GPT;
  const int r = shard.rank, p = shard.p;
  RowParallelOptions row;
  row.input_is_parallel = true;
  row.form = options.form;
  row.tree_segments = options.tree_segments;
  QKVParallelLinear qkv = QKVParallelLinear::from_shard(b.qkv_weight, gpt ? &b.qkv_bias : nullptr, c.heads,
                                                        c.kv_heads, c.head_dim(), r, p);
  RowParallelLinear o_proj = RowParallelLinear::from_shard(b.o_weight, gpt ? &b.o_bias : nullptr, r, p, row);
  ParallelAttention attention = ParallelAttention::from_parts(std::move(qkv), std::move(o_proj),
                                                              {true, options.form, options.tree_segments});
  RowParallelLinear down = RowParallelLinear::from_shard(b.mlp_down_weight, gpt ? &b.mlp_down_bias : nullptr, r, p, row);
  std::optional<ParallelGatedMLP> gated;
  std::optional<ParallelMLP> gelu;
  if (gpt) {
    gelu = ParallelMLP::from_parts(ColumnParallelLinear::from_shard(b.mlp_in_weight, &b.mlp_in_bias, r, p),
                                   std::move(down), {c.gelu, options.form, options.tree_segments});
  } else {
    const Eigen::Index I = shard.padded_intermediate;
    gated = ParallelGatedMLP::from_parts(MergedColumnParallelLinear::from_shard(b.mlp_in_weight, nullptr, {I, I}, r, p),
                                         std::move(down), {c.gelu, options.form, options.tree_segments});
  }
  return DecoderBlock(make_norm(c, b.input_norm_weight, b.input_norm_bias), std::move(attention),
                      make_norm(c, b.post_norm_weight, b.post_norm_bias), std::move(gated), std::move(gelu));
}

DeviceMatrix DecoderBlock::forward(Communicator& comm, const DeviceMatrix& x, const DecodeContext& context) const {
  const cudaStream_t stream = comm.stream();
  const DeviceMatrix h = input_norm_.forward(x, stream);
  const DeviceMatrix a = attention_.forward(comm, h, context);
  const DeviceMatrix x1 = residual_add(x, a, stream);
  const DeviceMatrix h1 = post_attention_norm_.forward(x1, stream);
  const DeviceMatrix m = gated_mlp_ ? gated_mlp_->forward(comm, h1) : gelu_mlp_->forward(comm, h1);
  DeviceMatrix out = residual_add(x1, m, stream);
  comm.wait("DecoderBlock::forward");
  return out;
}

}  // namespace atp::cuda
