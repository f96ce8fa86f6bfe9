/// \file vision_transformer.hpp
/// \brief GPU ParallelVisionTransformer: this rank's part of chapter 8's ViT,
///        the twin of atp/sim/vision/vision_transformer.hpp.
///
/// Legend: R = rows of the batch, H = hidden, p = ranks (1 for strategies A
/// and C, where each rank runs a whole encoder in a world of its own).
///
///     host: patchify every image (data layout), gather the position rows     bits only
///     device: y = patches W_patch^T (+ b)        linear, replicated
///             x = [cls ; y] + positions          launch_add: one add per element
///     per block: layernorm_rows -> attention_forward_segments (one all-reduce)
///                -> x + a (launch_add) -> layernorm_rows -> ParallelMLP (one all-reduce) -> x + m
///     layernorm_rows (final)
///
/// Every step is the simulator's step with the same function on the same
/// bits: layernorm_rows runs atp::layernorm_row per row, the matmuls keep the
/// canonical fma chain, the residual and position adds are single IEEE adds.
/// The weights are validated and sliced by the simulator's own from_master.
/// Left out: fused kernels, bf16.
#pragma once

#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/layers/parallel_attention.hpp"
#include "atp/cuda/layers/parallel_mlp.hpp"
#include "atp/vit_image.hpp"
#include "atp/vit_weights.hpp"

#include <vector>

namespace atp::cuda {

/// Rank r's part of the vision transformer, on the device.
class ParallelVisionTransformer {
 public:
  /// One block's layers on this rank.
  struct Block {
    DeviceMatrix ln1_gamma;            ///< replicated (1, H): LayerNorm before attention, scale
    DeviceMatrix ln1_beta;             ///< replicated (1, H): shift
    ParallelAttention attn;            ///< this rank's heads
    DeviceMatrix ln2_gamma;            ///< replicated (1, H): LayerNorm before the MLP, scale
    DeviceMatrix ln2_beta;             ///< replicated (1, H): shift
    ParallelMLP mlp;                   ///< this rank's MLP columns
  };

  /// Validates as atp::sim::ParallelVisionTransformer::from_master and uploads rank `rank`'s part.
  static ParallelVisionTransformer from_master(const VitConfig& config, const VitWeights& weights, int rank, int p,
                                               AllReduceForm form = AllReduceForm::RankOrder);

  /// This rank.
  int rank() const { return rank_; }
  /// Tensor-parallel size p.
  int p() const { return p_; }
  /// The configuration.
  const VitConfig& config() const { return config_; }

  /// Everything this rank computes in one forward pass.
  struct Steps {
    DeviceMatrix embedded;             ///< (R, H)
    std::vector<DeviceMatrix> blocks;  ///< (R, H) after each block
    DeviceMatrix out;                  ///< (R, H) after the final LayerNorm
  };

  /// [cls ; patches W_patch^T (+ b)] + positions: (R, H). Returns once finished.
  DeviceMatrix embed(Communicator& comm, const std::vector<Image>& images) const;
  /// The whole encoder on `images` (no images: (0, H)). Returns once finished.
  /// \throws std::invalid_argument as atp::sim::check_vit_images(), or if comm is not rank() of p().
  Steps forward_steps(Communicator& comm, const std::vector<Image>& images) const;
  /// forward_steps(...).out.
  DeviceMatrix forward(Communicator& comm, const std::vector<Image>& images) const;

 private:
  ParallelVisionTransformer() = default;
  VitConfig config_;
  int rank_ = 0, p_ = 1;
  Matrix cls_host_, pos_host_;                 // gathered on the host (bits only) into the position addend
  DeviceMatrix W_patch_, b_patch_, post_gamma_, post_beta_;
  std::vector<Block> blocks_;
};

}  // namespace atp::cuda
