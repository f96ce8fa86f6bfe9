/// \file vision_transformer.cpp
/// \brief The chapter 8 ViT on the simulator: replicated embedding, blocks of
///        chapter 4 and 5 layers, packed images with per-image attention.
#include "atp/sim/vision/vision_transformer.hpp"

#include "atp/sim/compute.hpp"
#include "atp/sim/layers/layer_norm.hpp"
#include "atp/sim/layers/segmented_attention.hpp"
#include "atp/sim/narrate.hpp"

#include <stdexcept>
#include <utility>

namespace atp::sim {
namespace {

std::string str(long long v) { return std::to_string(v); }

void require_shape(const Matrix& m, Eigen::Index rows, Eigen::Index cols, const std::string& what) {
  if (m.rows() != rows || m.cols() != cols)
    throw std::invalid_argument("ParallelVisionTransformer: " + what + " is " + shape_string(m) + ", expected " +
                                shape_string(rows, cols));
}

}  // namespace

void check_vit_images(const VitConfig& config, const std::vector<Image>& images) {
  for (std::size_t i = 0; i < images.size(); ++i) {
    const Image& img = images[i];
    const std::string name = "image " + str(static_cast<long long>(i)) + " (" + str(img.height) + "x" +
                             str(img.width) + ")";
    if (img.channels != config.channels)
      throw std::invalid_argument(name + " has " + str(img.channels) + " channels; the encoder expects " +
                                  str(config.channels));
    PatchGrid g;
    try {
      g = patch_grid(img, config.patch);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(name + ": " + e.what());
    }
    if (g.rows > config.max_grid || g.cols > config.max_grid)
      throw std::invalid_argument(name + " is a " + str(g.rows) + "x" + str(g.cols) + " grid of " +
                                  str(config.patch) + "-pixel patches; the position table covers at most " +
                                  str(config.max_grid) + "x" + str(config.max_grid) + " (images up to " +
                                  str(config.max_grid * config.patch) + "x" + str(config.max_grid * config.patch) +
                                  " pixels)");
  }
}

std::vector<Eigen::Index> vit_rows_per_image(const VitConfig& config, const std::vector<Image>& images) {
  check_vit_images(config, images);
  std::vector<Eigen::Index> rows;
  for (const Image& img : images) rows.push_back(config.rows_for_patches(patch_grid(img, config.patch).count()));
  return rows;
}

ParallelVisionTransformer ParallelVisionTransformer::from_master(const VitConfig& config, const VitWeights& weights,
                                                                 int p, ReduceOrder order) {
  config.validate();
  const Eigen::Index H = config.hidden;
  require_shape(weights.W_patch, H, config.patch_dim(), "W_patch (hidden, channels * patch * patch)");
  if (config.patch_bias) require_shape(weights.b_patch, 1, H, "b_patch");
  if (config.class_token) require_shape(weights.cls, 1, H, "cls");
  require_shape(weights.pos, config.positions(), H, "pos (cls + max_grid^2, hidden)");
  require_shape(weights.post_gamma, 1, H, "post_gamma");
  require_shape(weights.post_beta, 1, H, "post_beta");
  if (static_cast<int>(weights.blocks.size()) != config.layers)
    throw std::invalid_argument("ParallelVisionTransformer: " + str(static_cast<long long>(weights.blocks.size())) +
                                " blocks of weights for a config of " + str(config.layers) + " layers");
  std::vector<Block> blocks;
  for (std::size_t l = 0; l < weights.blocks.size(); ++l) {
    const VitBlockWeights& b = weights.blocks[l];
    const std::string name = "block " + str(static_cast<long long>(l));
    require_shape(b.ln1_gamma, 1, H, name + " ln1_gamma");
    require_shape(b.ln1_beta, 1, H, name + " ln1_beta");
    require_shape(b.ln2_gamma, 1, H, name + " ln2_gamma");
    require_shape(b.ln2_beta, 1, H, name + " ln2_beta");
    ParallelAttentionOptions ao;
    ao.order = order;
    ParallelMLPOptions mo;
    mo.gelu = config.gelu;
    mo.order = order;
    blocks.push_back({b.ln1_gamma, b.ln1_beta,
                      ParallelAttention::from_masters(b.attn, config.heads, config.heads, p, ao), b.ln2_gamma,
                      b.ln2_beta, ParallelMLP::from_master(b.W_fc1, b.b_fc1, b.W_fc2, b.b_fc2, p, mo)});
  }
  VitWeights embedding = weights;
  embedding.blocks.clear();
  return ParallelVisionTransformer(config, std::move(embedding), std::move(blocks), p);
}

PerRank<Matrix> ParallelVisionTransformer::embed(World& world, const std::vector<Image>& images,
                                                 const std::string& label) const {
  const std::vector<Eigen::Index> rows = vit_rows_per_image(config_, images);
  Eigen::Index total_patches = 0, total_rows = 0;
  for (std::size_t i = 0; i < images.size(); ++i) {
    total_rows += rows[i];
    total_patches += rows[i] - (config_.class_token ? 1 : 0);
  }
  Matrix patches(total_patches, config_.patch_dim());
  Eigen::Index at = 0;
  for (const Image& img : images) {
    const Matrix p = patchify(img, config_.patch);  // the stride = kernel convolution's input, as rows
    patches.middleRows(at, p.rows()) = p;
    at += p.rows();
  }
  const int cls = config_.class_token ? 1 : 0;
  const Matrix* bias = config_.patch_bias ? &embedding_.b_patch : nullptr;
  return make_per_rank(p_, [&](int r) -> Matrix {
    // Replicated: every rank embeds every patch (vLLM's Conv2dLayer is not sharded either).
    const Matrix y = linear(world, r, patches, embedding_.W_patch, bias, label + ".patch_embed");
    Matrix x(total_rows, config_.hidden);
    Eigen::Index row = 0, patch = 0;
    for (const Image& img : images) {
      if (cls == 1) x.row(row++) = embedding_.cls.row(0) + embedding_.pos.row(0);
      const PatchGrid g = patch_grid(img, config_.patch);
      for (int i = 0; i < g.rows; ++i)
        for (int j = 0; j < g.cols; ++j)  // one plain add per element, as the GPU's launch_add
          x.row(row++) = y.row(patch++) + embedding_.pos.row(config_.position_row(i, j));
    }
    return x;
  });
}

ParallelVisionTransformer::Steps ParallelVisionTransformer::forward_steps(World& world,
                                                                          const std::vector<Image>& images,
                                                                          const std::string& label) const {
  if (world.size() != p_)
    throw std::invalid_argument("ParallelVisionTransformer '" + label + "': built for p = " + str(p_) +
                                " but the world has " + str(world.size()) + " ranks");
  const std::vector<Eigen::Index> rows = vit_rows_per_image(config_, images);
  Steps s;
  if (images.empty()) {
    s.embedded = s.out = PerRank<Matrix>(p_, Matrix(0, config_.hidden));
    return s;
  }
  s.embedded = embed(world, images, label);
  narrate(world, label + ": [cls ; patches W_patch^T] + positions, replicated on every rank", s.embedded);
  PerRank<Matrix> x = s.embedded;
  for (std::size_t l = 0; l < blocks_.size(); ++l) {
    const Block& b = blocks_[l];
    const std::string name = label + ".block" + str(static_cast<long long>(l));
    const PerRank<Matrix> a =
        attention_forward_segments(world, b.attn, layernorm_rows(x, b.ln1_gamma, b.ln1_beta, config_.eps), rows,
                                   name + ".attn");
    for (int r = 0; r < p_; ++r) x[r] = x[r] + a[r];  // residual: one add per element on every rank
    const PerRank<Matrix> m = b.mlp.forward(world, layernorm_rows(x, b.ln2_gamma, b.ln2_beta, config_.eps),
                                            name + ".mlp");
    for (int r = 0; r < p_; ++r) x[r] = x[r] + m[r];
    narrate(world, name + ": residual stream after attention and MLP (2 all-reduces)", x);
    s.blocks.push_back(x);
  }
  s.out = layernorm_rows(x, embedding_.post_gamma, embedding_.post_beta, config_.eps);
  return s;
}

PerRank<Matrix> ParallelVisionTransformer::forward(World& world, const std::vector<Image>& images,
                                                   const std::string& label) const {
  return forward_steps(world, images, label).out;
}

void ParallelVisionTransformer::account_memory(World& world, const std::string& label) const {
  for (int r = 0; r < p_; ++r) {
    auto hold = [&](const std::string& name, const Matrix& m) {
      if (m.size() > 0) world.memory().hold(r, MemoryKind::Weight, label + "." + name, m);
    };
    hold("patch_embed.weight", embedding_.W_patch);
    hold("patch_embed.bias", embedding_.b_patch);
    hold("cls", embedding_.cls);
    hold("pos", embedding_.pos);
    hold("post_norm.gamma", embedding_.post_gamma);
    hold("post_norm.beta", embedding_.post_beta);
    for (std::size_t l = 0; l < blocks_.size(); ++l) {
      const std::string b = "block" + str(static_cast<long long>(l));
      hold(b + ".ln1.gamma", blocks_[l].ln1_gamma);
      hold(b + ".ln1.beta", blocks_[l].ln1_beta);
      hold(b + ".ln2.gamma", blocks_[l].ln2_gamma);
      hold(b + ".ln2.beta", blocks_[l].ln2_beta);
    }
  }
  for (std::size_t l = 0; l < blocks_.size(); ++l) {
    const std::string b = label + ".block" + str(static_cast<long long>(l));
    blocks_[l].attn.account_memory(world, b + ".attn", 0);
    blocks_[l].mlp.account_memory(world, b + ".mlp");
  }
}

}  // namespace atp::sim
