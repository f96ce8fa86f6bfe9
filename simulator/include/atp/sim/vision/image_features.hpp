/// \file image_features.hpp
/// \brief From pixels to decoder-width image features on every rank: the
///        vision tower of a VLM (chapter 9) = an encoder strategy of chapter
///        8, then the projector, tensor-parallel.
///
/// Legend: R = encoder rows, N = image tokens (feature rows the prompt must
/// hold placeholders for), Hv = vision width, D = decoder width, p = ranks.
///
///     images --encode_images(strategy)--> (R, Hv) on every rank   A: broadcast, B: 2L all-reduces, C: all-gather
///       LLaVA:  drop each image's class-token row (vLLM's "default" feature selection)  (N = sum n_i, Hv)
///               ParallelLlavaProjector                               -> (N, D), one all-reduce
///       merger: ParallelPatchMerger (norm, 2 x 2 side by side, MLP)  -> (N = sum n_i / 4, D), one all-reduce
///
/// After this the features are on every rank, identical in bits (every
/// collective above leaves the same bits on every rank), which is what the
/// merge into the text embeddings needs. Leaves out: caching features across
/// requests (vLLM's encoder cache), video.
#pragma once

#include "atp/projector_weights.hpp"
#include "atp/sim/vision/encoder_strategies.hpp"
#include "atp/sim/vision/projector.hpp"
#include "atp/vit_weights.hpp"

#include <string>
#include <vector>

namespace atp::sim {

/// Which projector maps the encoder into the decoder's width.
enum class ProjectorKind {
  Llava,       ///< LLaVA: linear, GELU, linear on every patch row (class tokens dropped)
  PatchMerger  ///< Qwen2-VL: LayerNorm, 2 x 2 patches side by side, linear, GELU, linear
};

/// "llava" or "merger".
const char* to_string(ProjectorKind kind);
/// Parses to_string() names. \throws std::invalid_argument naming the text and the valid names.
ProjectorKind parse_projector_kind(const std::string& text);

/// The vision half of a VLM: the encoder and the projector, as masters.
struct VisionTower {
  VitConfig encoder;                         ///< the ViT's shape
  VitWeights encoder_weights;                ///< its masters
  ProjectorKind projector = ProjectorKind::Llava;  ///< which projector
  ProjectorWeights projector_weights;        ///< its masters (LLaVA: Hv -> D -> D; merger: 4 Hv -> 4 Hv -> D)
  int merge = 2;                             ///< the merger's spatial merge size
  float merger_eps = 1e-6f;                  ///< the merger's LayerNorm epsilon (Qwen2-VL: 1e-6)
  /// D, the decoder width the projector maps into.
  Eigen::Index output_width() const { return projector_weights.W2.rows(); }
};

/// Image tokens per image: n_i for LLaVA (class token dropped), n_i / m^2 for the merger.
/// \throws std::invalid_argument naming the image when a merger's grid is not a multiple of m.
std::vector<Eigen::Index> image_token_counts(const VisionTower& tower, const std::vector<Image>& images);

/// Everything the vision half computed, per rank.
struct ImageFeatures {
  EncodedImages encoded;                 ///< the encoder strategy's output (R, Hv) and steps
  PerRank<Matrix> projector_input;       ///< LLaVA: (N, Hv) patch rows; merger: (R, Hv) as encoded
  PerRank<Matrix> features;              ///< (N, D) on every rank: what the placeholders receive
  std::vector<Eigen::Index> tokens_per_image;  ///< image_token_counts()
};

/// Encodes `images` with `strategy` (which must be possible at world.size():
/// use choose_encoder_strategy), then runs the projector split across the
/// world's ranks. Labels: label + ".vit..." and label + ".projector...".
/// \throws std::invalid_argument as encode_images, the projectors' from_master, image_token_counts.
ImageFeatures image_features(World& world, EncoderStrategy strategy, const VisionTower& tower,
                             const std::vector<Image>& images, const std::string& label);

}  // namespace atp::sim
