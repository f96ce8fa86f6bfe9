/// \file image_features.cpp
/// \brief Encoder strategy, then projector: image features on every rank.
#include "atp/sim/vision/image_features.hpp"

#include <stdexcept>

namespace atp::sim {

const char* to_string(ProjectorKind kind) { return kind == ProjectorKind::PatchMerger ? "merger" : "llava"; }

ProjectorKind parse_projector_kind(const std::string& text) {
  if (text == "llava") return ProjectorKind::Llava;
  if (text == "merger") return ProjectorKind::PatchMerger;
  throw std::invalid_argument("projector '" + text + "' is unknown; valid: llava (LLaVA's MLP), merger (Qwen2-VL's "
                              "patch merger)");
}

std::vector<Eigen::Index> image_token_counts(const VisionTower& tower, const std::vector<Image>& images) {
  check_vit_images(tower.encoder, images);
  std::vector<Eigen::Index> out;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const PatchGrid g = patch_grid(images[i], tower.encoder.patch);
    if (tower.projector == ProjectorKind::Llava) {
      out.push_back(g.count());
      continue;
    }
    if (g.rows % tower.merge != 0 || g.cols % tower.merge != 0)
      throw std::invalid_argument("image " + std::to_string(i) + " is a " + std::to_string(g.rows) + "x" +
                                  std::to_string(g.cols) + " grid of patches; the patch merger needs both sides to "
                                  "be multiples of " + std::to_string(tower.merge));
    out.push_back(g.count() / (static_cast<Eigen::Index>(tower.merge) * tower.merge));
  }
  return out;
}

ImageFeatures image_features(World& world, EncoderStrategy strategy, const VisionTower& tower,
                             const std::vector<Image>& images, const std::string& label) {
  if (tower.projector == ProjectorKind::PatchMerger && tower.encoder.class_token)
    throw std::invalid_argument("image_features: the patch merger regroups patches on their grid; an encoder with a "
                                "class token has a row that is not on the grid (Qwen2-VL's encoder has none)");
  ImageFeatures f;
  f.tokens_per_image = image_token_counts(tower, images);
  f.encoded = encode_images(world, strategy, tower.encoder, tower.encoder_weights, images, label + ".vit");
  const int p = world.size();
  if (tower.projector == ProjectorKind::Llava) {
    f.projector_input = make_per_rank(p, [&](int r) -> Matrix {
      return select_patch_features(f.encoded.features[r], f.encoded.rows_per_image, tower.encoder.class_token);
    });
    f.features = ParallelLlavaProjector::from_master(tower.projector_weights, p)
                     .forward(world, f.projector_input, label + ".projector");
  } else {
    std::vector<PatchGrid> grids;
    for (const Image& img : images) grids.push_back(patch_grid(img, tower.encoder.patch));
    f.projector_input = f.encoded.features;
    f.features = ParallelPatchMerger::from_master(tower.projector_weights, tower.merge, tower.merger_eps, p)
                     .forward(world, f.projector_input, grids, label + ".projector");
  }
  return f;
}

}  // namespace atp::sim
