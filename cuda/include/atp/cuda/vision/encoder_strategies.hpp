/// \file encoder_strategies.hpp
/// \brief The three encoder strategies of chapter 8 on NCCL ranks, the twin
///        of atp/sim/vision/encoder_strategies.hpp (same names, same steps).
///
/// Legend: R = rows of the batch, H = hidden, p = ranks, L = padded rows (C).
/// `comm` is the p-rank world; `local` is this rank's world of one (a
/// Communicator built with world_size 1 on the same device), in which the
/// whole encoder of strategies A and C runs: its layers' all-reduces are over
/// one rank and move nothing, as vLLM's disable_tp layers in data mode.
///
///   A encode_one_rank  rank 0: whole encoder on `local`; ncclBroadcast of (R, H)
///   B encode_weights   the sharded encoder on `comm`: 2 all-reduces per block
///   C encode_data      atp::sim::data_parallel_layout (the same on every rank),
///                      the plan checked on every rank before any call, this
///                      rank's images on `local`, zero padding to L rows,
///                      ncclAllGather of (L, H), rows put back in image order
///
/// Each returns this rank's (R, H) features, bit for bit the simulator's rank
/// r. Left out: overlapping the encoder with anything else.
#pragma once

#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/vision/vision_transformer.hpp"
#include "atp/sim/vision/encoder_strategies.hpp"

#include <vector>

namespace atp::cuda {

/// What a strategy produced on this rank.
struct EncodedImages {
  atp::sim::EncoderStrategy strategy = atp::sim::EncoderStrategy::OneRank;  ///< which strategy ran
  DeviceMatrix features;                            ///< (R, H), images in their original order
  std::vector<Eigen::Index> rows_per_image;         ///< rows of each image in `features`
  atp::sim::ImageAssignment assignment;             ///< C (and A): who encoded which image
  DeviceMatrix local;                               ///< A: rank 0's output; C: this rank's (R_r, H)
  DeviceMatrix padded;                              ///< C: (L, H) sent to the all-gather
  DeviceMatrix gathered;                            ///< C: (p L, H) received
  std::vector<atp::sim::CollectivePlan> plans;      ///< the collectives every rank issues (C: checked first)
};

/// A: rank 0 runs `whole` (p = 1) on `local`, then broadcasts over `comm`.
EncodedImages encode_one_rank(Communicator& comm, Communicator& local, const ParallelVisionTransformer& whole,
                              const std::vector<Image>& images);

/// B: `sharded` (rank comm.rank() of comm.world_size()) on every rank.
EncodedImages encode_weights(Communicator& comm, const ParallelVisionTransformer& sharded,
                             const std::vector<Image>& images);

/// C: this rank's images on `local`, padded all-gather over `comm`, order restored.
/// \throws atp::sim::CollectiveMismatch (before any collective) when the plan differs between ranks.
EncodedImages encode_data(Communicator& comm, Communicator& local, const ParallelVisionTransformer& whole,
                          const std::vector<Image>& images, atp::sim::DataParallelOptions options = {});

/// Builds the encoder `strategy` needs (p = 1 for A and C, comm's p for B) and runs it.
/// \throws std::invalid_argument as atp::sim::encode_images.
EncodedImages encode_images(Communicator& comm, Communicator& local, atp::sim::EncoderStrategy strategy,
                            const VitConfig& config, const VitWeights& weights, const std::vector<Image>& images,
                            AllReduceForm form = AllReduceForm::RankOrder);

/// A world of one rank on comm's device, for the whole encoders of A and C.
CommunicatorConfig local_world_config(const Communicator& comm);

}  // namespace atp::cuda
