/// \file decoder_block.cpp
/// \brief DecoderBlock on the simulator: the chapter layers built from per-rank shards, and the pre-norm forward.
#include "atp/sim/models/decoder_block.hpp"

#include "atp/sim/narrate.hpp"

#include <stdexcept>
#include <utility>

namespace atp::sim {
namespace {

/// Each rank's residual sum x + y: the same adds on every rank.
PerRank<Matrix> add_residual(const PerRank<Matrix>& x, const PerRank<Matrix>& y) {
  return make_per_rank(x.size(), [&](int r) -> Matrix { return residual_add(x[r], y[r]); });
}

ReplicatedNorm make_norm(const DecoderConfig& c, PerRank<Matrix> weight, PerRank<Matrix> bias) {
  return c.arch == DecoderArch::GPT ? ReplicatedNorm::layer(std::move(weight), std::move(bias), c.norm_eps)
                                    : ReplicatedNorm::rms(std::move(weight), c.norm_eps);
}

}  // namespace

DecoderBlock DecoderBlock::from_shards(const std::vector<DecoderShard>& shards, int layer, DecoderOptions options) {
  if (shards.empty()) throw std::invalid_argument("DecoderBlock::from_shards: no shards (need one per rank)");
  const DecoderConfig& c = shards[0].config;
  if (layer < 0 || layer >= c.layers)
    throw std::invalid_argument("DecoderBlock::from_shards: layer " + std::to_string(layer) + " out of range; valid 0.." +
                                std::to_string(c.layers - 1));
  const int p = static_cast<int>(shards.size());
  for (int r = 0; r < p; ++r)
    if (shards[static_cast<std::size_t>(r)].rank != r || shards[static_cast<std::size_t>(r)].p != p ||
        !(shards[static_cast<std::size_t>(r)].config == c))
      throw std::invalid_argument("DecoderBlock::from_shards: shard " + std::to_string(r) +
                                  " is not rank " + std::to_string(r) + " of " + std::to_string(p) +
                                  " of the same model");
  const auto L = static_cast<std::size_t>(layer);
  auto block = [&](Matrix BlockShard::*member) {
    return gather_shards(shards, [&](const DecoderShard& s) { return s.blocks[L].*member; });
  };
  const bool gpt = c.arch == DecoderArch::GPT;
  const BlockShard& b0 = shards[0].blocks[L];

  RowParallelOptions row;
  row.input_is_parallel = true;
  row.order = options.order;
  row.tree_segments = options.tree_segments;
  QKVParallelLinear qkv = QKVParallelLinear::from_shards(block(&BlockShard::qkv_weight), block(&BlockShard::qkv_bias),
                                                         c.heads, c.kv_heads, c.head_dim());
  RowParallelLinear o_proj = RowParallelLinear::from_shards(block(&BlockShard::o_weight), gpt ? &b0.o_bias : nullptr,
                                                            row);
  ParallelAttention attention = ParallelAttention::from_parts(std::move(qkv), std::move(o_proj),
                                                              {true, options.order, options.tree_segments});

  std::optional<ParallelGatedMLP> gated;
  std::optional<ParallelMLP> gelu;
  const Eigen::Index I = shards[0].padded_intermediate;
  RowParallelLinear down =
      RowParallelLinear::from_shards(block(&BlockShard::mlp_down_weight), gpt ? &b0.mlp_down_bias : nullptr, row);
  if (gpt) {
    gelu = ParallelMLP::from_parts(
        ColumnParallelLinear::from_shards(block(&BlockShard::mlp_in_weight), block(&BlockShard::mlp_in_bias)),
        std::move(down), {c.gelu, options.order, options.tree_segments});
  } else {
    gated = ParallelGatedMLP::from_parts(
        MergedColumnParallelLinear::from_shards(block(&BlockShard::mlp_in_weight), PerRank<Matrix>(p), {I, I}),
        std::move(down), {c.gelu, options.order, options.tree_segments});
  }
  return DecoderBlock(make_norm(c, block(&BlockShard::input_norm_weight), block(&BlockShard::input_norm_bias)),
                      std::move(attention),
                      make_norm(c, block(&BlockShard::post_norm_weight), block(&BlockShard::post_norm_bias)),
                      std::move(gated), std::move(gelu));
}

PerRank<Matrix> DecoderBlock::forward(World& world, const PerRank<Matrix>& x, const DecodeContext& context,
                                      const std::string& label, bool narrate_steps) const {
  const PerRank<Matrix> h = input_norm_.forward(world, x, label + ".input_norm");
  if (narrate_steps) narrate(world, label + ": h = input_norm(x), computed whole on every rank (no communication)", h);
  const PerRank<Matrix> a = narrate_steps ? attention_.forward_steps(world, h, label + ".attn", context).out
                                          : attention_.forward(world, h, label + ".attn", context);
  const PerRank<Matrix> x1 = add_residual(x, a);
  if (narrate_steps) narrate(world, label + ": x = x + attention(h), the residual, on every rank", x1);
  const PerRank<Matrix> h1 = post_attention_norm_.forward(world, x1, label + ".post_attention_norm");
  PerRank<Matrix> m;
  if (gated_mlp_)
    m = narrate_steps ? gated_mlp_->forward_steps(world, h1, label + ".mlp").output
                      : gated_mlp_->forward(world, h1, label + ".mlp");
  else
    m = narrate_steps ? gelu_mlp_->forward_steps(world, h1, label + ".mlp").output
                      : gelu_mlp_->forward(world, h1, label + ".mlp");
  PerRank<Matrix> out = add_residual(x1, m);
  if (narrate_steps) narrate(world, label + ": x = x + mlp(post_attention_norm(x)): the block's output", out);
  return out;
}

void DecoderBlock::account_memory(World& world, const std::string& label) const {
  input_norm_.account_memory(world, label + ".input_norm");
  attention_.qkv().account_memory(world, label + ".attn.qkv");
  attention_.out_proj().account_memory(world, label + ".attn.o_proj");
  post_attention_norm_.account_memory(world, label + ".post_attention_norm");
  if (gated_mlp_) gated_mlp_->account_memory(world, label + ".mlp");
  if (gelu_mlp_) gelu_mlp_->account_memory(world, label + ".mlp");
}

}  // namespace atp::sim
