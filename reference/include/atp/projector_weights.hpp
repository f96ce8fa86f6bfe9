/// \file projector_weights.hpp
/// \brief The multimodal projectors of chapter 9, their seeded master
///        weights and their dense float64 references: LLaVA's two-layer MLP
///        and Qwen2-VL's patch merger.
///
/// Letters: Hv = the vision encoder's width, D = the decoder's width,
/// m = spatial merge size (2 in Qwen2-VL), n = an image's patches.
///
///     LLaVA (vLLM's LlavaMultiModalProjector, vllm/model_executor/models/llava.py):
///         y = W2 gelu(W1 x + b1) + b2          W1 (D, Hv), W2 (D, D)
///     Qwen2-VL patch merger (Qwen2VisionPatchMerger, vllm/model_executor/models/qwen2_vl.py):
///         x = LayerNorm(x) per patch           (n, Hv)
///         x = each m x m block of patches side by side   (n / m^2, m^2 Hv)
///         y = W2 gelu(W1 x + b1) + b2          W1 (m^2 Hv, m^2 Hv), W2 (D, m^2 Hv)
///
/// Both GELUs are PyTorch's default erf form (LLaVA's projector_hidden_act
/// "gelu", Qwen2-VL's nn.GELU()). Leaves out: LLaVA-NeXT's image newline
/// tokens, Qwen2.5-VL's RMSNorm merger, checkpoints.
#pragma once

#include "atp/activations.hpp"
#include "atp/tensor.hpp"
#include "atp/vit_image.hpp"

#include <cstdint>

namespace atp {

/// The master weights of a projector (norm_* are (0, 0) for LLaVA's).
struct ProjectorWeights {
  Matrix W1;          ///< (mid, in): first layer, column-parallel under TP
  Matrix b1;          ///< (1, mid)
  Matrix W2;          ///< (D, mid): second layer, row-parallel under TP
  Matrix b2;          ///< (1, D)
  Matrix norm_gamma;  ///< patch merger: (1, Hv) LayerNorm before the merge; LLaVA: (0, 0)
  Matrix norm_beta;   ///< patch merger: (1, Hv); LLaVA: (0, 0)
};

/// LLaVA's projector Hv -> D -> D from streams 8500.. (W1 scale 3/sqrt(Hv), W2 1/sqrt(D), biases 1/3).
ProjectorWeights random_llava_projector(Eigen::Index vision_hidden, Eigen::Index text_hidden, std::uint64_t seed);

/// Qwen2-VL's merger: LayerNorm(Hv), m^2 Hv -> m^2 Hv -> D, from streams 8520..
ProjectorWeights random_patch_merger(Eigen::Index vision_hidden, Eigen::Index text_hidden, int merge,
                                     std::uint64_t seed);

/// The rows of x (n, Hv), one image's patches in row-major grid order, with
/// each m x m block of patches side by side: row bi (gw/m) + bj holds patches
/// (bi m + a, bj m + b) for a, b = 0..m-1 in that order, (n / m^2, m^2 Hv).
/// Qwen2-VL's image processor emits the patches already in this order, so
/// its merger is a plain view; the book keeps the grid row-major and moves
/// the rows here. Bits only.
/// \throws std::invalid_argument naming the grid unless m >= 1 divides both
///         grid sides and x has grid.count() rows.
Matrix spatial_merge(const Matrix& x, const PatchGrid& grid, int merge);

/// LLaVA's projector of x (rows, Hv) in float64.
MatrixD llava_projector_ref(const MatrixD& x, const ProjectorWeights& w);

/// The patch merger of one image's x (n, Hv) on `grid` in float64.
MatrixD patch_merger_ref(const MatrixD& x, const PatchGrid& grid, int merge, const ProjectorWeights& w, double eps);

}  // namespace atp
