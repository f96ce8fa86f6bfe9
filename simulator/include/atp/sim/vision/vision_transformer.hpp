/// \file vision_transformer.hpp
/// \brief ParallelVisionTransformer: chapter 8's ViT (CLIP/SigLIP-style)
///        assembled from the chapter layers, its weights split across p
///        simulated ranks (strategy B) or whole at p = 1 (strategies A and C).
///
/// Legend: B = images in the batch, n_i = patches of image i, R = sum of the
/// images' rows (n_i, + 1 each with a class token), H = hidden, nH = heads,
/// I = MLP width, p = tp size; the model is vit_weights.hpp's.
///
///     every rank: patches of all images (sum n_i, C P P)          data layout only
///       | patch embedding x W_patch^T (+ b): REPLICATED matmul     (sum n_i, H)
///       | [cls ; patches] + positions, per image                   (R, H)
///     L blocks, the residual stream x (R, H) the same on every rank:
///       | LayerNorm (replicated)
///       | attention: QKV column-parallel by heads, each image attends only
///       |   to itself (attention_forward_segments), Wo row-parallel + all-reduce
///       | x = x + attn
///       | LayerNorm, MLP: fc1 column-parallel, GELU, fc2 row-parallel + all-reduce
///       | x = x + mlp
///     final LayerNorm (replicated)                                  (R, H) on every rank
///
/// Why the patch embedding is replicated, not column-parallel: its output is
/// the residual stream, which every rank needs whole (a column-parallel split
/// would need an all-gather right away, a row-parallel one an all-reduce), and
/// it is small: C P P x H weights (588 x 1024 for CLIP ViT-L/14, 0.2% of the
/// tower) and one matmul per image. vLLM keeps it whole too (CLIPVisionEmbeddings
/// in vllm/model_executor/models/clip.py holds a plain Conv2dLayer; the class
/// and position embeddings are plain nn.Parameter / nn.Embedding), as it keeps
/// the LayerNorms whole. So strategy B costs 2 all-reduces of (R, H) per
/// block, like a decoder layer, and nothing else.
///
/// At p = 1 every layer is its identity path: no sum is split, each image
/// attends only to itself, so the output is the dense encoder's, bit for bit,
/// however the images are batched. Leaves out: KV caches and masks (an
/// encoder needs neither), everything vit_weights.hpp leaves out.
#pragma once

#include "atp/sim/layers/parallel_attention.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"
#include "atp/vit_image.hpp"
#include "atp/vit_weights.hpp"

#include <string>
#include <vector>

namespace atp::sim {

/// The rows each image contributes to the encoder's output: n_i (+ 1 for the class token).
/// \throws std::invalid_argument as check_vit_images().
std::vector<Eigen::Index> vit_rows_per_image(const VitConfig& config, const std::vector<Image>& images);

/// Checks that every image fits `config`: its channels, a whole number of
/// patches, a grid no larger than max_grid x max_grid.
/// \throws std::invalid_argument naming the image's index, its size and what would be valid.
void check_vit_images(const VitConfig& config, const std::vector<Image>& images);

/// The vision transformer, its blocks split across p ranks.
class ParallelVisionTransformer {
 public:
  /// One block's layers.
  struct Block {
    Matrix ln1_gamma;            ///< replicated (1, H): LayerNorm before attention, scale
    Matrix ln1_beta;             ///< replicated (1, H): shift
    ParallelAttention attn;      ///< QKV column-parallel by heads, Wo row-parallel
    Matrix ln2_gamma;            ///< replicated (1, H): LayerNorm before the MLP, scale
    Matrix ln2_beta;             ///< replicated (1, H): shift
    ParallelMLP mlp;             ///< fc1 column-parallel, GELU, fc2 row-parallel
  };

  /// Validates `config`, checks the weights' shapes and splits every block over p ranks.
  /// \throws std::invalid_argument naming the bad size: a weight's shape, or
  ///         heads / intermediate not divisible by p (the chapter layers' messages).
  static ParallelVisionTransformer from_master(const VitConfig& config, const VitWeights& weights, int p,
                                               ReduceOrder order = ReduceOrder::RankOrder);

  /// Tensor-parallel size p.
  int p() const { return p_; }
  /// The configuration.
  const VitConfig& config() const { return config_; }
  /// The replicated embedding weights and final norm (the masters' tensors).
  const VitWeights& embedding() const { return embedding_; }
  /// The L blocks.
  const std::vector<Block>& blocks() const { return blocks_; }

  /// Everything a forward pass computes, per rank.
  struct Steps {
    PerRank<Matrix> embedded;               ///< (R, H): [cls ; patch embeddings] + positions
    std::vector<PerRank<Matrix>> blocks;    ///< (R, H) after each block
    PerRank<Matrix> out;                    ///< (R, H) after the final LayerNorm
  };

  /// The patch embedding of every image (one replicated matmul per rank for
  /// all patches, label + ".patch_embed"), class tokens and positions: (R, H) per rank.
  PerRank<Matrix> embed(World& world, const std::vector<Image>& images, const std::string& label) const;

  /// The whole encoder on `images` (in order): (R, H) on every rank, image i in
  /// its rows of vit_rows_per_image(). 2 all-reduces per block (`label.block<l>.attn.o_proj`,
  /// `label.block<l>.mlp.down`). No images: (0, H) per rank and nothing recorded.
  /// \throws std::invalid_argument as check_vit_images(), or if world is not p ranks.
  Steps forward_steps(World& world, const std::vector<Image>& images, const std::string& label) const;
  /// forward_steps(...).out.
  PerRank<Matrix> forward(World& world, const std::vector<Image>& images, const std::string& label) const;

  /// Puts every weight (sharded or replicated) in world.memory() under label.
  void account_memory(World& world, const std::string& label) const;

 private:
  ParallelVisionTransformer(VitConfig config, VitWeights embedding, std::vector<Block> blocks, int p)
      : config_(config), embedding_(std::move(embedding)), blocks_(std::move(blocks)), p_(p) {}
  VitConfig config_;
  VitWeights embedding_;  // W_patch, b_patch, cls, pos, post norm; blocks left empty
  std::vector<Block> blocks_;
  int p_;
};

}  // namespace atp::sim
