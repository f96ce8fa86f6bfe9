/// \file row_parallel_linear.hpp
/// \brief GPU RowParallelLinear: this rank's shard of a layer split by input
///        features, partial sum, one all-reduce, the bias once (chapter 3),
///        the twin of atp/sim/layers/row_parallel_linear.hpp.
///
/// One rank per process: the object holds W_r (out, in/p) and the whole bias
/// (1, out) on the device, sliced by the simulator's own from_master. The
/// all-reduce form picks the order: AllReduceForm::RankOrder equals
/// ReduceOrder::RankOrder bit for bit, Ring equals Ring, and Native
/// (ncclAllReduce) equals them only for p <= 2 (within tolerance otherwise).
/// The after-reduce bias add is one plain add per element, as
/// atp::sim::add_bias_rows. AllReduceForm::Tree (chapter 11) keeps W_r cut
/// into its S/p tree segments and runs matmul_nt_tree then all_reduce_tree,
/// the twin of ReduceOrder::Tree; sequence_parallel (chapter 12) replaces the
/// all-reduce by a reduce-scatter along the tokens (RankOrder or Tree).
///
/// Left out: the backward pass, overlapping.
#pragma once

#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/tensor.hpp"

#include <vector>

namespace atp::cuda {

/// Options of the GPU row-parallel layer: the simulator's, with an AllReduceForm for the order.
struct RowParallelOptions {
  bool input_is_parallel = true;                  ///< x arrives (T, in/p); false: (T, in), sliced here
  bool reduce_results = true;                     ///< all-reduce the partial sums
  bool skip_bias_add = false;                     ///< leave the bias to the caller
  AllReduceForm form = AllReduceForm::RankOrder;  ///< which all-reduce
  atp::sim::BiasPlacement bias_placement = atp::sim::BiasPlacement::AfterReduce;  ///< where the bias enters
  int tree_segments = atp::kDefaultTreeSegments;  ///< AllReduceForm::Tree: S, the tree segments of each dot product
  bool sequence_parallel = false;                 ///< reduce-scatter along the tokens instead of all-reducing
};

/// The simulator's options that match `options` (the order by sim_order()).
atp::sim::RowParallelOptions sim_options(const RowParallelOptions& options);

/// The simulator order that matches `form` bit for bit (Native maps to RankOrder,
/// which it equals only for p <= 2; Tree to Tree).
atp::sim::ReduceOrder sim_order(AllReduceForm form);

/// Rank r's part of a row-parallel linear layer, on the device.
class RowParallelLinear {
 public:
  /// Uploads rank `rank`'s W_r = cols [rank*in/p, (rank+1)*in/p) of W (out, in) and the bias.
  /// \throws std::invalid_argument as atp::sim::RowParallelLinear::from_master,
  ///         or naming rank and p unless 0 <= rank < p, or for sequence_parallel
  ///         with AllReduceForm::Native (its reduce-scatter would be NCCL's order).
  static RowParallelLinear from_master(const Matrix& W, const Matrix* bias, int rank, int p,
                                       RowParallelOptions options = {});
  /// Uploads this rank's shard read elsewhere: W_r (out, in/p) and the whole bias (1, out) or nullptr.
  /// \throws std::invalid_argument naming rank, p or the shapes, and as from_master for the options.
  static RowParallelLinear from_shard(const Matrix& W_r, const Matrix* bias, int rank, int p,
                                      RowParallelOptions options = {});

  /// This rank.
  int rank() const { return rank_; }
  /// Tensor-parallel size p.
  int p() const { return p_; }
  /// in: the input features of the whole layer.
  int in_features() const { return weight_.cols() * p_; }
  /// out: the output features.
  int out_features() const { return weight_.rows(); }
  /// W_r (out, in/p) on the device.
  const DeviceMatrix& weight() const { return weight_; }
  /// The bias (1, out) on the host, or (0, 0).
  const Matrix& bias() const { return bias_host_; }
  /// The options it was built with.
  const RowParallelOptions& options() const { return options_; }

  /// What this rank feeds the all-reduce: x_r W_r^T (T, out), plus the bias on
  /// rank 0 under Rank0BeforeReduce (under Tree: its subtree root). Returns once finished.
  DeviceMatrix partial_sum(Communicator& comm, const DeviceMatrix& x) const;
  /// partial_sum, the all-reduce by options().form (unless !reduce_results),
  /// the bias after it under AfterReduce. (T, out); with sequence_parallel
  /// this rank's rows (T/p, out) of the reduce-scatter. Returns once finished.
  /// \throws std::invalid_argument naming the shapes; CudaError from CUDA or NCCL.
  DeviceMatrix forward(Communicator& comm, const DeviceMatrix& x) const;

 private:
  RowParallelLinear() = default;
  int rank_ = 0;
  int p_ = 1;
  DeviceMatrix weight_;
  DeviceMatrix bias_;
  Matrix bias_host_;
  RowParallelOptions options_;
  std::vector<DeviceMatrix> segments_;  // Tree: W_r's S/p tree segments
};

}  // namespace atp::cuda
