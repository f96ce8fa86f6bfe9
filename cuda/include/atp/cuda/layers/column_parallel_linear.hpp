/// \file column_parallel_linear.hpp
/// \brief GPU ColumnParallelLinear and MergedColumnParallelLinear: this
///        rank's shard of a layer split by output features (chapter 2), the
///        twin of atp/sim/layers/column_parallel_linear.hpp.
///
/// One rank per process: the object holds only rank r's W_r (out/p, in) and
/// b_r (1, out/p) on the device, sliced from the master by the simulator's
/// own from_master (so both sides hold the same bits and refuse the same
/// shapes). forward() runs atp::cuda::linear (the canonical fma chain per
/// element, bias added once after) and, with gather_output, one
/// atp::cuda::all_gather along columns. The input x is the same on every
/// rank: Megatron's f is the identity in the forward pass. With the
/// simulator's ColumnParallelOptions::sequence_parallel (chapter 12), x is
/// this rank's tokens (T/p, in) and one all-gather along rows comes first.
///
/// Left out: the backward pass, overlapping the all-gather with compute.
#pragma once

#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/sim/layers/column_parallel_linear.hpp"
#include "atp/tensor.hpp"

#include <utility>
#include <vector>

namespace atp::cuda {

/// Rank r's part of a column-parallel linear layer, on the device.
class ColumnParallelLinear {
 public:
  /// Uploads rank `rank`'s shard of W (out, in) and bias (1, out) (may be nullptr).
  /// \throws std::invalid_argument as atp::sim::ColumnParallelLinear::from_master,
  ///         or naming rank and p unless 0 <= rank < p.
  static ColumnParallelLinear from_master(const Matrix& W, const Matrix* bias, int rank, int p,
                                          atp::sim::ColumnParallelOptions options = {});
  /// Uploads shards already sliced on the host (rank `rank` of the simulator's layer).
  static ColumnParallelLinear from_sim(const atp::sim::ColumnParallelLinear& layer, int rank);
  /// Uploads this rank's shard read elsewhere (chapter 7's checkpoint reader):
  /// W_r (out/p, in), b_r (1, out/p) or nullptr.
  /// \throws std::invalid_argument naming rank and p, or the shapes.
  static ColumnParallelLinear from_shard(const Matrix& W_r, const Matrix* b_r, int rank, int p,
                                         atp::sim::ColumnParallelOptions options = {});

  /// This rank.
  int rank() const { return rank_; }
  /// Tensor-parallel size p.
  int p() const { return p_; }
  /// in: the input features.
  int in_features() const { return weight_.cols(); }
  /// out: the output features of the whole layer.
  int out_features() const { return weight_.rows() * p_; }
  /// W_r (out/p, in) on the device.
  const DeviceMatrix& weight() const { return weight_; }
  /// b_r (1, out/p) on the device, or nullptr without a bias.
  const DeviceMatrix* bias() const { return has_bias_ ? &bias_ : nullptr; }
  /// The options it was built with.
  const atp::sim::ColumnParallelOptions& options() const { return options_; }

  /// x (T, in), the same on every rank (sequence_parallel: this rank's (T/p, in),
  /// all-gathered first). Returns y_r = x W_r^T + b_r (T, out/p),
  /// or (T, out) with gather_output. Runs on comm.stream() and returns once it has finished.
  /// \throws std::invalid_argument naming the shapes, or if comm's rank or
  ///         size differ from the layer's; CudaError from CUDA or NCCL.
  DeviceMatrix forward(Communicator& comm, const DeviceMatrix& x) const;

 private:
  ColumnParallelLinear() = default;
  int rank_ = 0;
  int p_ = 1;
  bool has_bias_ = false;
  DeviceMatrix weight_;
  DeviceMatrix bias_;
  atp::sim::ColumnParallelOptions options_;
};

/// Rank r's part of several column-parallel layers fused into one weight
/// (vLLM's MergedColumnParallelLinear): [rows r of W_0; rows r of W_1; ...].
class MergedColumnParallelLinear {
 public:
  /// Uploads rank `rank`'s stacked shard; arguments and errors as
  /// atp::sim::MergedColumnParallelLinear::from_masters.
  static MergedColumnParallelLinear from_masters(const std::vector<Matrix>& Ws,
                                                 const std::vector<const Matrix*>& biases, int rank, int p,
                                                 atp::sim::ColumnParallelOptions options = {});
  /// Uploads this rank's stacked shard read elsewhere: W_r (sum_i out_i/p, in)
  /// holding its slice of each master in order, b_r likewise or nullptr.
  /// \throws std::invalid_argument naming the sizes if p does not divide an out_i or W_r does not stack them.
  static MergedColumnParallelLinear from_shard(const Matrix& W_r, const Matrix* b_r,
                                               std::vector<Eigen::Index> output_sizes, int rank, int p,
                                               atp::sim::ColumnParallelOptions options = {});
  /// This rank.
  int rank() const { return layer_.rank(); }
  /// Tensor-parallel size p.
  int p() const { return layer_.p(); }
  /// out_i of each merged master, in order.
  const std::vector<Eigen::Index>& output_sizes() const { return output_sizes_; }
  /// The fused per-rank layer (its weight is the stacked shard).
  const ColumnParallelLinear& layer() const { return layer_; }

  /// x (T, in). Returns [y_0 slice r | y_1 slice r | ...] (T, sum out_i/p), or
  /// [y_0 | y_1 | ...] (T, sum out_i) with gather_output. Returns once finished.
  DeviceMatrix forward(Communicator& comm, const DeviceMatrix& x) const;

 private:
  MergedColumnParallelLinear(ColumnParallelLinear layer, std::vector<Eigen::Index> sizes, bool gather)
      : layer_(std::move(layer)), output_sizes_(std::move(sizes)), gather_output_(gather) {}
  ColumnParallelLinear layer_;  // without gather_output: this class regathers in master order
  std::vector<Eigen::Index> output_sizes_;
  bool gather_output_ = false;
};

/// Throws std::invalid_argument naming `what` unless comm is rank `rank` of a world of p.
void check_layer_comm(const Communicator& comm, int rank, int p, const char* what);

}  // namespace atp::cuda
