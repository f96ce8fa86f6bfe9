/// \file image_features.hpp
/// \brief GPU vision half of a VLM on one rank: an encoder strategy, then the
///        tensor-parallel projector; the twin of atp/sim/vision/image_features.hpp.
///
/// The LLaVA path drops the class-token rows on a host copy (bits only, the
/// simulator's select_patch_features); the merger path hands the encoder's
/// rows to ParallelPatchMerger. Every rank ends with the same (N, D) bits,
/// which the simulator's rank r holds too. Left out: an encoder cache.
#pragma once

#include "atp/cuda/vision/encoder_strategies.hpp"
#include "atp/cuda/vision/projector.hpp"
#include "atp/sim/vision/image_features.hpp"

#include <vector>

namespace atp::cuda {

/// What the vision half computed on this rank.
struct ImageFeatures {
  EncodedImages encoded;                       ///< the encoder strategy's output and steps
  DeviceMatrix projector_input;                ///< LLaVA: (N, Hv); merger: (R, Hv)
  DeviceMatrix features;                       ///< (N, D): what the placeholders receive
  std::vector<Eigen::Index> tokens_per_image;  ///< atp::sim::image_token_counts()
};

/// `strategy` (possible at comm's p) on `images`, then the projector split across comm's ranks.
/// \throws std::invalid_argument as atp::sim::image_features.
ImageFeatures image_features(Communicator& comm, Communicator& local, atp::sim::EncoderStrategy strategy,
                             const atp::sim::VisionTower& tower, const std::vector<Image>& images);

}  // namespace atp::cuda
