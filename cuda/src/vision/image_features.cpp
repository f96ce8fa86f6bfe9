/// \file image_features.cpp
/// \brief Encoder strategy, then projector, on one GPU rank.
#include "atp/cuda/vision/image_features.hpp"

#include "atp/sim/vision/projector.hpp"

#include <stdexcept>

namespace atp::cuda {

ImageFeatures image_features(Communicator& comm, Communicator& local, atp::sim::EncoderStrategy strategy,
                             const atp::sim::VisionTower& tower, const std::vector<Image>& images) {
  if (tower.projector == atp::sim::ProjectorKind::PatchMerger && tower.encoder.class_token)
    throw std::invalid_argument("image_features: the patch merger regroups patches on their grid; an encoder with a "
                                "class token has a row that is not on the grid (Qwen2-VL's encoder has none)");
  ImageFeatures f;
  f.tokens_per_image = atp::sim::image_token_counts(tower, images);
  f.encoded = encode_images(comm, local, strategy, tower.encoder, tower.encoder_weights, images);
  const int rank = comm.rank(), p = comm.world_size();
  if (tower.projector == atp::sim::ProjectorKind::Llava) {
    f.projector_input = to_device(atp::sim::select_patch_features(to_host(f.encoded.features, comm.stream()),
                                                                  f.encoded.rows_per_image, tower.encoder.class_token),
                                  comm.stream());
    f.features = ParallelLlavaProjector::from_master(tower.projector_weights, rank, p).forward(comm, f.projector_input);
  } else {
    std::vector<PatchGrid> grids;
    for (const Image& img : images) grids.push_back(patch_grid(img, tower.encoder.patch));
    f.projector_input = to_device(to_host(f.encoded.features, comm.stream()), comm.stream());
    f.features = ParallelPatchMerger::from_master(tower.projector_weights, tower.merge, tower.merger_eps, rank, p)
                     .forward(comm, f.projector_input, grids);
  }
  return f;
}

}  // namespace atp::cuda
