/// \file projector.hpp
/// \brief The multimodal projectors of chapter 9 on p simulated ranks:
///        LLaVA's (linear, GELU, linear) and Qwen2-VL's patch merger (norm,
///        2 x 2 patches side by side, linear, GELU, linear), each a
///        column-parallel layer, the GELU on each rank's columns, and a
///        row-parallel layer with one all-reduce, as vLLM shards them.
///
/// Legend: N = feature rows in, Hv = vision width, D = decoder width,
/// mid = the first layer's width (D for LLaVA, 4 Hv for the merger), p = ranks.
///
///     x (N, Hv) on every rank (the encoder's output, replicated by any strategy)
///       [merger: LayerNorm per row, replicated; each 2 x 2 block side by side: (N/4, 4 Hv)]
///       h_r = x W1_r^T + b1_r      ColumnParallelLinear   (., mid/p)    no communication
///       a_r = gelu(h_r)            elementwise, on rank r's columns only
///       y   = all_reduce(a_r W2_r^T) + b2   RowParallelLinear   (., D) on every rank
///
/// vLLM: LlavaMultiModalProjector (vllm/model_executor/models/llava.py) builds
/// linear_1 as ColumnParallelLinear and linear_2 as RowParallelLinear;
/// Qwen2VisionPatchMerger (qwen2_vl.py) builds its mlp the same way after
/// ln_q and a view that puts each 2 x 2 block of patches side by side. So the
/// projector costs one all-reduce and its output is on every rank: the seed's
/// point that "the full set of projected features must be available on all
/// GPUs" is this all-reduce (or, at p = 1, nothing). The second layer splits
/// its dot products, so the projected features are close to, not bitwise equal
/// to, a dense projector's (chapter 3), except at p = 1. Leaves out: running
/// the merger inside a data-parallel tower (vLLM does, with disable_tp, when
/// the tower runs in data mode), LLaVA-NeXT's newline tokens.
#pragma once

#include "atp/projector_weights.hpp"
#include "atp/sim/layers/column_parallel_linear.hpp"
#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"
#include "atp/vit_image.hpp"

#include <string>
#include <vector>

namespace atp::sim {

/// Why a projector whose first layer is `mid` wide cannot be split across p
/// ranks ("" when it can): mid not divisible by p.
std::string projector_obstacle(Eigen::Index mid, int p);

/// The rows of x (R, H) that are patches: every image's rows but the first when
/// `class_token` (vLLM's "default" vision_feature_select_strategy drops the
/// class token before LLaVA's projector, _get_vision_feature_selector in
/// vllm/model_executor/models/vision.py). Bits only.
/// \throws std::invalid_argument unless rows_per_image add up to x's rows.
Matrix select_patch_features(const Matrix& x, const std::vector<Eigen::Index>& rows_per_image, bool class_token);

/// LLaVA's projector: linear_1 column-parallel, GELU (erf), linear_2 row-parallel.
class ParallelLlavaProjector {
 public:
  /// Splits W1 (D, Hv) by rows and W2 (D, D) by columns over p ranks.
  /// \throws std::invalid_argument naming the shapes, or projector_obstacle() when p does not divide D.
  static ParallelLlavaProjector from_master(const ProjectorWeights& w, int p,
                                            ReduceOrder order = ReduceOrder::RankOrder);
  /// Tensor-parallel size p.
  int p() const { return linear_1_.p(); }
  /// The column-parallel first layer.
  const ColumnParallelLinear& linear_1() const { return linear_1_; }
  /// The row-parallel second layer.
  const RowParallelLinear& linear_2() const { return linear_2_; }
  /// x (N, Hv) on every rank -> (N, D) on every rank; one all-reduce (label + ".linear_2.all_reduce").
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, const std::string& label) const;

 private:
  ParallelLlavaProjector(ColumnParallelLinear l1, RowParallelLinear l2) : linear_1_(std::move(l1)), linear_2_(std::move(l2)) {}
  ColumnParallelLinear linear_1_;
  RowParallelLinear linear_2_;
};

/// Qwen2-VL's patch merger: LayerNorm, m x m patches side by side, then LLaVA's shape of MLP.
class ParallelPatchMerger {
 public:
  /// W1 (m^2 Hv, m^2 Hv) split by rows, W2 (D, m^2 Hv) by columns; the norm replicated.
  /// \throws std::invalid_argument naming the shapes, or projector_obstacle() when p does not divide m^2 Hv.
  static ParallelPatchMerger from_master(const ProjectorWeights& w, int merge, float eps, int p,
                                         ReduceOrder order = ReduceOrder::RankOrder);
  /// Tensor-parallel size p.
  int p() const { return mlp_0_.p(); }
  /// m, the spatial merge size.
  int merge() const { return merge_; }
  /// The column-parallel first layer (vLLM's mlp.0).
  const ColumnParallelLinear& mlp_0() const { return mlp_0_; }
  /// The row-parallel second layer (vLLM's mlp.2).
  const RowParallelLinear& mlp_2() const { return mlp_2_; }
  /// x (sum n_i, Hv) on every rank, image i's patches in row-major order on
  /// grids[i] -> (sum n_i / m^2, D) on every rank; one all-reduce.
  /// \throws std::invalid_argument if a grid is not a multiple of m or the rows do not add up.
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, const std::vector<PatchGrid>& grids,
                          const std::string& label) const;

 private:
  ParallelPatchMerger(Matrix g, Matrix b, ColumnParallelLinear l0, RowParallelLinear l2, int merge, float eps)
      : gamma_(std::move(g)), beta_(std::move(b)), mlp_0_(std::move(l0)), mlp_2_(std::move(l2)), merge_(merge),
        eps_(eps) {}
  Matrix gamma_, beta_;
  ColumnParallelLinear mlp_0_;
  RowParallelLinear mlp_2_;
  int merge_;
  float eps_;
};

/// The merger's input rows regrouped: every image's LayerNormed patches, each m x m block side by side.
/// Exposed for tests and the GPU twin (which calls it on the host: bits only).
Matrix merge_image_rows(const Matrix& x, const std::vector<PatchGrid>& grids, int merge);

}  // namespace atp::sim
