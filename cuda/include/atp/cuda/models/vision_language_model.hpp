/// \file vision_language_model.hpp
/// \brief The tensor-parallel VLM on one GPU rank (chapter 9): the twin of
///        atp/sim/models/vision_language_model.hpp, same steps, same order.
///
/// image_features (an encoder strategy, then the projector) on comm (and the
/// one-rank `local` communicator for A and C), the decoder's embedding of the
/// prompt ids, merge_multimodal_embeddings (device row copies), the prefill
/// from the merged embeddings, greedy steps. Every rank picks the same ids
/// from the gathered logits. Left out: batching, an encoder cache.
#pragma once

#include "atp/cuda/models/parallel_decoder.hpp"
#include "atp/cuda/vision/image_features.hpp"

#include <cstdint>
#include <vector>

namespace atp::cuda {

/// One request through the VLM on this rank.
struct VlmGeneration {
  atp::sim::StrategyChoice strategy;    ///< the encoder strategy asked for and the one that ran
  ImageFeatures vision;                 ///< the encoder's output and the projected features (N, D)
  DeviceMatrix text;                    ///< (T, D) the prompt ids' embeddings
  DeviceMatrix merged;                  ///< (T, D) the decoder's input
  std::vector<std::int64_t> generated;  ///< one id per step
  std::vector<Matrix> logits;           ///< per step, this rank's (1, V) ((0, 0) if the logits were gathered to rank 0)
};

/// As atp::sim::vlm_generate, on this rank.
/// \throws std::invalid_argument as the simulator's.
VlmGeneration vlm_generate(Communicator& comm, Communicator& local, const ParallelDecoder& decoder,
                           const atp::sim::VisionTower& tower, atp::sim::EncoderStrategy strategy,
                           const std::vector<Image>& images, const std::vector<std::int64_t>& prompt,
                           std::int64_t image_token, int steps);

}  // namespace atp::cuda
