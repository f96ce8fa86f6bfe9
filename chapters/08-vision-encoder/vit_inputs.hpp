/// \file vit_inputs.hpp
/// \brief Chapter 8's inputs, built once from the counter-based generator:
/// the CPU binary, the GPU worker and the tests all call make_vit_problem(),
/// so every rank of every side encodes the same images with the same weights.
///
/// Legend: C = channels, P = patch size, H = hidden, nH = heads, I = MLP
/// width, L = blocks, G = max grid. Image i is uniform on [-1, 1) from stream
/// 9000 + i; the weights come from atp::random_vit_weights (streams 8000...).
/// The default batch mixes six sizes (64, 24, 4, 24, 16 and 8 patches of
/// 4 x 4 pixels): one large image, several small ones, as a chat request with
/// a photo and a few thumbnails would. Leaves out: real pixels and checkpoints.
#pragma once

#include "atp/vit_image.hpp"
#include "atp/vit_weights.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp::ch08 {

/// The chapter's default mixed batch (HEIGHTxWIDTH in pixels).
inline constexpr const char* kDefaultImages = "32x32,16x24,8x8,24x16,16x16,8x16";

/// Everything one run encodes.
struct VitProblem {
  VitConfig config;          ///< the encoder's shape
  VitWeights weights;        ///< its masters
  std::vector<Image> images; ///< the batch, in request order
};

/// The images of `sizes` ("32x32,16x24") for config's channel count, image i from stream 9000 + i.
inline std::vector<Image> make_images(const VitConfig& config, const std::string& sizes, std::uint64_t seed) {
  std::vector<Image> images;
  std::uint64_t stream = 9000;
  for (const auto& [h, w] : parse_image_sizes(sizes)) images.push_back(random_image(config.channels, h, w, seed, stream++));
  return images;
}

/// The config (validated), its seeded weights and the images.
inline VitProblem make_vit_problem(const VitConfig& config, const std::string& sizes, std::uint64_t seed) {
  return {config, random_vit_weights(config, seed), make_images(config, sizes, seed)};
}

}  // namespace atp::ch08
