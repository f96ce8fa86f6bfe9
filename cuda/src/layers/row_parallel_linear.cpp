/// \file row_parallel_linear.cpp
/// \brief GPU RowParallelLinear: one rank's partial sum, the all-reduce, the bias once.
#include "atp/cuda/layers/row_parallel_linear.hpp"

#include "atp/cuda/check.hpp"
#include "atp/cuda/kernels.hpp"
#include "atp/cuda/layers/column_parallel_linear.hpp"
#include "atp/cuda/matmul_tree.hpp"
#include "atp/cuda/ops.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {

atp::sim::ReduceOrder sim_order(AllReduceForm form) {
  switch (form) {
    case AllReduceForm::Ring: return atp::sim::ReduceOrder::Ring;
    case AllReduceForm::Tree: return atp::sim::ReduceOrder::Tree;
    case AllReduceForm::Native:
    case AllReduceForm::RankOrder: break;
  }
  return atp::sim::ReduceOrder::RankOrder;
}

atp::sim::RowParallelOptions sim_options(const RowParallelOptions& options) {
  return {.input_is_parallel = options.input_is_parallel,
          .reduce_results = options.reduce_results,
          .skip_bias_add = options.skip_bias_add,
          .order = sim_order(options.form),
          .bias_placement = options.bias_placement,
          .tree_segments = options.tree_segments,
          .sequence_parallel = options.sequence_parallel};
}

RowParallelLinear RowParallelLinear::from_master(const Matrix& W, const Matrix* bias, int rank, int p,
                                                 RowParallelOptions options) {
  // The simulator slices and validates, so both sides hold the same shard and refuse the same options.
  const auto layer = atp::sim::RowParallelLinear::from_master(W, bias, p, sim_options(options));
  if (options.sequence_parallel && options.form == AllReduceForm::Native)
    throw std::invalid_argument("RowParallelLinear::from_master: sequence_parallel reduce-scatters in rank-order or "
                                "tree order; the native form would use NCCL's own order");
  if (rank < 0 || rank >= p)
    throw std::invalid_argument("RowParallelLinear::from_master: rank " + std::to_string(rank) +
                                " out of range; valid ranks are 0.." + std::to_string(p - 1) +
                                " (p = " + std::to_string(p) + ")");
  RowParallelLinear out;
  out.rank_ = rank;
  out.p_ = p;
  out.weight_ = to_device(layer.weight()[rank]);
  out.bias_host_ = layer.bias();
  if (layer.has_bias()) out.bias_ = to_device(layer.bias());
  out.options_ = options;
  // Tree: the rank's columns are S/p whole segments (the simulator checked); cut them once.
  if (options.form == AllReduceForm::Tree) out.segments_ = upload_segments(layer.weight()[rank], options.tree_segments / p);
  return out;
}

RowParallelLinear RowParallelLinear::from_shard(const Matrix& W_r, const Matrix* bias, int rank, int p,
                                                RowParallelOptions options) {
  if (rank < 0 || rank >= p)
    throw std::invalid_argument("RowParallelLinear::from_shard: rank " + std::to_string(rank) +
                                " out of range; valid ranks are 0.." + std::to_string(p - 1));
  const bool tree = options.form == AllReduceForm::Tree;
  if (tree && (options.tree_segments < p || options.tree_segments % p != 0))
    throw std::invalid_argument("RowParallelLinear::from_shard: tree order with S = " +
                                std::to_string(options.tree_segments) + " segments at p = " + std::to_string(p) +
                                "; each rank must hold S/p whole segments, so S must be a multiple of p");
  // The simulator's checks on a one-rank view of the shard: the bias shape, the option combination
  // and, in the tree order, that the shard's columns split into its S/p segments.
  (void)atp::sim::RowParallelLinear::from_shards(atp::sim::PerRank<Matrix>(1, W_r), bias,
                                                  {.input_is_parallel = options.input_is_parallel,
                                                   .reduce_results = options.reduce_results,
                                                   .skip_bias_add = options.skip_bias_add,
                                                   .order = sim_order(options.form),
                                                   .bias_placement = options.bias_placement,
                                                   .tree_segments = tree ? options.tree_segments / p
                                                                         : options.tree_segments});
  RowParallelLinear out;
  out.rank_ = rank;
  out.p_ = p;
  out.weight_ = to_device(W_r);
  if (bias != nullptr) {
    out.bias_host_ = *bias;
    out.bias_ = to_device(*bias);
  }
  out.options_ = options;
  // Tree: this rank's columns are its S/p whole segments, cut once (as from_master does). Without
  // this a decoder built from shards had no segments: the first GPU run of chapter 11 found it.
  if (tree) out.segments_ = upload_segments(W_r, options.tree_segments / p);
  return out;
}

DeviceMatrix RowParallelLinear::partial_sum(Communicator& comm, const DeviceMatrix& x) const {
  check_layer_comm(comm, rank_, p_, "RowParallelLinear::partial_sum");
  const int local_in = weight_.cols();
  const int want = options_.input_is_parallel ? local_in : in_features();
  if (x.cols() != want)
    throw std::invalid_argument("RowParallelLinear::partial_sum: x is " + x.shape() + " but must be (T, " +
                                (options_.input_is_parallel ? "in/p" : "in") + ") = (" + std::to_string(x.rows()) +
                                ", " + std::to_string(want) + ")" +
                                (options_.input_is_parallel ? " (input_is_parallel)" : ""));
  const bool bias_here = bias_host_.size() > 0 && !options_.skip_bias_add && rank_ == 0 &&
                         options_.bias_placement == atp::sim::BiasPlacement::Rank0BeforeReduce;
  const DeviceMatrix* b = bias_here ? &bias_ : nullptr;
  DeviceMatrix x_r;  // outlives the matmul, which runs on the stream until the wait below
  if (!options_.input_is_parallel) {
    // Scatter to the tensor-parallel region: keep this rank's columns of the replicated x.
    x_r = DeviceMatrix(x.rows(), local_in);
    const std::size_t width = static_cast<std::size_t>(local_in) * sizeof(float);
    ATP_CUDA_CHECK(cudaMemcpy2DAsync(x_r.data(), width, x.data() + static_cast<std::size_t>(rank_) * local_in,
                                     static_cast<std::size_t>(x.cols()) * sizeof(float), width,
                                     static_cast<std::size_t>(x.rows()), cudaMemcpyDeviceToDevice, comm.stream()));
  }
  const DeviceMatrix& x_in = options_.input_is_parallel ? x : x_r;
  // Tree: the lower levels, over this rank's S/p segments (no bias here: the tree adds it after the root).
  DeviceMatrix y = options_.form == AllReduceForm::Tree ? matmul_nt_tree(x_in, segments_, comm.stream())
                                                        : linear(x_in, weight_, b, comm.stream());
  comm.wait("RowParallelLinear::partial_sum");
  return y;
}

DeviceMatrix RowParallelLinear::forward(Communicator& comm, const DeviceMatrix& x) const {
  DeviceMatrix y = partial_sum(comm, x);
  if (!options_.reduce_results) return y;
  if (options_.sequence_parallel)  // Megatron's g under sequence parallelism: this rank keeps its tokens
    y = options_.form == AllReduceForm::Tree ? reduce_scatter_tree(comm, y, Axis::Rows)
                                             : reduce_scatter(comm, y, Axis::Rows);
  else
    all_reduce(comm, y, options_.form);  // Megatron's g
  if (bias_host_.size() > 0 && !options_.skip_bias_add &&
      options_.bias_placement == atp::sim::BiasPlacement::AfterReduce) {
    // One plain add per element, y + b, as atp::sim::add_bias_rows: the bias row tiled over the T rows.
    const Matrix tiled = bias_host_.replicate(y.rows(), 1);
    const DeviceMatrix b = to_device(tiled, comm.stream());
    launch_add(y.data(), b.data(), y.data(), static_cast<std::size_t>(y.size()), comm.stream());
    comm.wait("RowParallelLinear::forward");
  }
  return y;
}

}  // namespace atp::cuda
