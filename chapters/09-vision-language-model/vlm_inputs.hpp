/// \file vlm_inputs.hpp
/// \brief Chapter 9's inputs, built once: the vision tower (a small seeded
/// random ViT and projector that maps into the language model's width), the
/// images and the prompt. The CPU binary, the GPU worker and the tests all
/// call these, so every rank of every side runs the same request.
///
/// Legend: Hv = vision width (48), D = the decoder's width (64 for
/// fortune-llama), N = image tokens. The ViT is chapter 8's default shape; a
/// class token only with LLaVA's projector (it drops it again; Qwen2-VL's
/// encoder has none). The prompt is BOS, the text before, N placeholders
/// (byte 0), the text after. Leaves out: trained vision weights (none exist
/// for fortune-llama: the image features are random, and the language model
/// simply reads them as context).
#pragma once

#include "atp/projector_weights.hpp"
#include "atp/sim/models/vision_language_model.hpp"
#include "atp/sim/vision/image_features.hpp"
#include "atp/vit_weights.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp::ch09 {

/// The default images: 16, 8 and 8 patches of 4 x 4 pixels (grids 4x4, 2x4, 4x2).
inline constexpr const char* kDefaultImages = "16x16,8x16,16x8";
/// The default text around the image tokens.
inline constexpr const char* kDefaultBefore = "";
/// The default text after the image tokens: fortune-llama's favourite opening.
inline constexpr const char* kDefaultAfter = "A computer ";

/// The vision tower for a decoder of width D: chapter 8's ViT and the chosen projector, from `seed`.
inline atp::sim::VisionTower make_tower(atp::sim::ProjectorKind kind, Eigen::Index decoder_width, std::uint64_t seed) {
  atp::sim::VisionTower t;
  t.encoder.class_token = kind == atp::sim::ProjectorKind::Llava;
  t.encoder_weights = random_vit_weights(t.encoder, seed);
  t.projector = kind;
  t.projector_weights = kind == atp::sim::ProjectorKind::Llava
                            ? random_llava_projector(t.encoder.hidden, decoder_width, seed)
                            : random_patch_merger(t.encoder.hidden, decoder_width, t.merge, seed);
  return t;
}

/// The images of `sizes`, image i from stream 9000 + i (as chapter 8).
inline std::vector<Image> make_images(const atp::sim::VisionTower& t, const std::string& sizes, std::uint64_t seed) {
  std::vector<Image> images;
  std::uint64_t stream = 9000;
  for (const auto& [h, w] : parse_image_sizes(sizes)) images.push_back(random_image(t.encoder.channels, h, w, seed, stream++));
  return images;
}

/// BOS (id 1 in fortune-llama), `before`, one placeholder per image token, `after`.
inline std::vector<std::int64_t> make_prompt(const atp::sim::VisionTower& t, const std::vector<Image>& images,
                                             const std::string& before, const std::string& after) {
  std::int64_t n = 0;
  for (Eigen::Index k : atp::sim::image_token_counts(t, images)) n += k;
  return atp::sim::vlm_prompt(1, before, n, atp::sim::kImageToken, after);
}

}  // namespace atp::ch09
