/// \file projector.hpp
/// \brief GPU projectors of chapter 9 (LLaVA's and Qwen2-VL's patch merger)
///        on one rank: the twins of atp/sim/vision/projector.hpp.
///
/// Legend as the simulator's: x (N, Hv) on every rank, mid = D (LLaVA) or
/// m^2 Hv (merger), D = decoder width. This rank holds rows [r mid/p, (r+1)
/// mid/p) of W1 and the same columns of W2, sliced by the simulator's
/// from_master. The GELU is the shared atp::gelu(Erf, .) kernel; the merger's
/// LayerNorm is layernorm_rows, and its 2 x 2 regrouping is
/// atp::sim::merge_image_rows run on a host copy (bits only, the same
/// function as the simulator's). One all-reduce each, in the simulator's order.
/// Left out: fused kernels.
#pragma once

#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/layers/column_parallel_linear.hpp"
#include "atp/cuda/layers/row_parallel_linear.hpp"
#include "atp/projector_weights.hpp"
#include "atp/vit_image.hpp"

#include <vector>

namespace atp::cuda {

/// Rank r's part of LLaVA's projector.
class ParallelLlavaProjector {
 public:
  /// Validates as atp::sim::ParallelLlavaProjector::from_master and uploads rank `rank`'s shards.
  static ParallelLlavaProjector from_master(const ProjectorWeights& w, int rank, int p,
                                            AllReduceForm form = AllReduceForm::RankOrder);
  /// x (N, Hv) -> (N, D) on every rank; one all-reduce. Returns once finished.
  DeviceMatrix forward(Communicator& comm, const DeviceMatrix& x) const;

 private:
  ParallelLlavaProjector(ColumnParallelLinear l1, RowParallelLinear l2) : linear_1_(std::move(l1)), linear_2_(std::move(l2)) {}
  ColumnParallelLinear linear_1_;
  RowParallelLinear linear_2_;
};

/// Rank r's part of Qwen2-VL's patch merger.
class ParallelPatchMerger {
 public:
  /// Validates as atp::sim::ParallelPatchMerger::from_master and uploads rank `rank`'s shards.
  static ParallelPatchMerger from_master(const ProjectorWeights& w, int merge, float eps, int rank, int p,
                                         AllReduceForm form = AllReduceForm::RankOrder);
  /// x (sum n_i, Hv), image i on grids[i] -> (sum n_i / m^2, D) on every rank. Returns once finished.
  DeviceMatrix forward(Communicator& comm, const DeviceMatrix& x, const std::vector<PatchGrid>& grids) const;

 private:
  ParallelPatchMerger(DeviceMatrix g, DeviceMatrix b, ColumnParallelLinear l0, RowParallelLinear l2, int merge, float eps)
      : gamma_(std::move(g)), beta_(std::move(b)), mlp_0_(std::move(l0)), mlp_2_(std::move(l2)), merge_(merge),
        eps_(eps) {}
  DeviceMatrix gamma_, beta_;
  ColumnParallelLinear mlp_0_;
  RowParallelLinear mlp_2_;
  int merge_;
  float eps_;
};

}  // namespace atp::cuda
