/// \file vit_weights.hpp
/// \brief The vision transformer of chapter 8: its configuration, its dense
///        master weights (fp32, as one device stores them), and the seeded
///        generator that makes them.
///
/// Letters: C = channels, P = patch size, H = hidden size, nH = heads,
/// d = H / nH, I = MLP intermediate size, L = blocks, G = max_grid.
///
/// The model is CLIP's and SigLIP's vision tower reduced to what matters for
/// tensor parallelism:
///
///     patches (n, C P P) --W_patch (H, C P P), b_patch (SigLIP) or none (CLIP)--> (n, H)
///     [cls ; patch embeddings]  + positions                       (n + cls, H)
///     L pre-norm blocks:  x = x + attn(LN1(x));  x = x + fc2(gelu(fc1(LN2(x))))
///     post LayerNorm                                               (n + cls, H)
///
/// Positions are a learned table of G * G rows (plus one for the class token,
/// row 0): patch (i, j) of any image reads row cls + i G + j, so images of
/// every size up to G x G patches share one table without resampling. (CLIP
/// has a fixed grid and interpolates it for other sizes; Qwen2-VL uses 2D
/// rotary positions instead. The book's table keeps the data path of a
/// learned embedding and makes variable sizes exact.) Leaves out: CLIP's
/// pre-LayerNorm before the blocks, quick_gelu (CLIP) in favour of tanh GELU
/// (SigLIP's gelu_pytorch_tanh), dropout, checkpoints.
#pragma once

#include "atp/activations.hpp"
#include "atp/attention_weights.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp {

/// The shape of a vision transformer.
struct VitConfig {
  int channels = 3;          ///< C: colour planes of an image
  int patch = 4;             ///< P: the patch embedding's kernel and stride
  int hidden = 48;           ///< H: width of the residual stream
  int heads = 8;             ///< nH: attention heads (head_dim d = H / nH)
  int intermediate = 192;    ///< I: MLP width
  int layers = 2;            ///< L: pre-norm blocks
  int max_grid = 8;          ///< G: the position table covers grids up to G x G patches
  bool class_token = true;   ///< CLIP prepends a learned class token; SigLIP has none
  bool patch_bias = false;   ///< SigLIP's patch embedding has a bias; CLIP's has none
  GeluForm gelu = GeluForm::Tanh;  ///< the MLP's GELU
  float eps = 1e-5f;         ///< LayerNorm epsilon

  /// C * P * P: the length of a flattened patch.
  int patch_dim() const { return channels * patch * patch; }
  /// d = H / nH.
  int head_dim() const { return heads > 0 ? hidden / heads : 0; }
  /// Rows of the position table: cls + G * G.
  std::int64_t positions() const {
    return (class_token ? 1 : 0) + static_cast<std::int64_t>(max_grid) * max_grid;
  }
  /// The position-table row of patch (i, j): cls + i G + j.
  std::int64_t position_row(int i, int j) const {
    return (class_token ? 1 : 0) + static_cast<std::int64_t>(i) * max_grid + j;
  }
  /// Rows the encoder outputs for an image of n patches: n, plus one for the class token.
  std::int64_t rows_for_patches(std::int64_t n) const { return n + (class_token ? 1 : 0); }
  /// Throws std::invalid_argument naming the first bad field and what would be valid
  /// (every size >= 1, nH divides H, eps >= 0).
  void validate() const;
  /// "C=3 P=4 H=48 nH=8 I=192 L=2 G=8 cls": a one-line description.
  std::string describe() const;
};

/// The weights of one pre-norm block.
struct VitBlockWeights {
  Matrix ln1_gamma;  ///< (1, H): LayerNorm before attention, scale
  Matrix ln1_beta;   ///< (1, H): LayerNorm before attention, shift
  AttentionWeights attn;       ///< Wq, Wk, Wv (H, H), Wo (H, H) and their biases (plain multi-head: nKV = nH)
  Matrix ln2_gamma;  ///< (1, H): LayerNorm before the MLP, scale
  Matrix ln2_beta;   ///< (1, H): LayerNorm before the MLP, shift
  Matrix W_fc1;                ///< (I, H)
  Matrix b_fc1;                ///< (1, I)
  Matrix W_fc2;                ///< (H, I)
  Matrix b_fc2;                ///< (1, H)
};

/// The dense master weights of the whole encoder.
struct VitWeights {
  Matrix W_patch;                     ///< (H, C P P): the Conv2d weight flattened in (c, a, b) order
  Matrix b_patch;                     ///< (1, H), or (0, 0) without patch bias
  Matrix cls;                         ///< (1, H), or (0, 0) without class token
  Matrix pos;                         ///< (cls + G G, H): learned positions
  std::vector<VitBlockWeights> blocks;  ///< L blocks
  Matrix post_gamma;                  ///< (1, H): the final LayerNorm, scale
  Matrix post_beta;                   ///< (1, H): the final LayerNorm, shift
};

/// Seeded random masters for `config` (validated first), from streams 8000 + ...
/// of the counter-based generator. Scales keep activations of order one:
/// W_patch 1/sqrt(C P P), attention as random_attention_weights, fc1
/// 3/sqrt(H), fc2 1/sqrt(I), biases 1/3, positions 1/2, LayerNorm gamma
/// 1 + u/10 and beta u/10 (u uniform on [-1, 1)).
VitWeights random_vit_weights(const VitConfig& config, std::uint64_t seed);

}  // namespace atp
