/// \file column_parallel_linear.cpp
/// \brief GPU ColumnParallelLinear and MergedColumnParallelLinear: one rank's shard, linear, optional all-gather.
#include "atp/cuda/layers/column_parallel_linear.hpp"

#include "atp/cuda/check.hpp"
#include "atp/cuda/collectives.hpp"
#include "atp/cuda/ops.hpp"
#include "atp/sim/layers/tp_divide.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {

void check_layer_comm(const Communicator& comm, int rank, int p, const char* what) {
  if (comm.world_size() != p || comm.rank() != rank)
    throw std::invalid_argument(std::string(what) + ": the layer holds rank " + std::to_string(rank) + " of tp " +
                                std::to_string(p) + " but the communicator is " + comm.describe() + " of world size " +
                                std::to_string(comm.world_size()));
}

namespace {

void check_rank(int rank, int p, const char* what) {
  if (rank < 0 || rank >= p)
    throw std::invalid_argument(std::string(what) + ": rank " + std::to_string(rank) +
                                " out of range; valid ranks are 0.." + std::to_string(p - 1) +
                                " (p = " + std::to_string(p) + ")");
}

}  // namespace

ColumnParallelLinear ColumnParallelLinear::from_sim(const atp::sim::ColumnParallelLinear& layer, int rank) {
  check_rank(rank, layer.p(), "ColumnParallelLinear::from_sim");
  ColumnParallelLinear out;
  out.rank_ = rank;
  out.p_ = layer.p();
  out.has_bias_ = layer.has_bias();
  out.weight_ = to_device(layer.weight()[rank]);
  if (out.has_bias_) out.bias_ = to_device(layer.bias()[rank]);
  out.options_ = layer.options();
  return out;
}

ColumnParallelLinear ColumnParallelLinear::from_shard(const Matrix& W_r, const Matrix* b_r, int rank, int p,
                                                      atp::sim::ColumnParallelOptions options) {
  check_rank(rank, p, "ColumnParallelLinear::from_shard");
  if (W_r.rows() < 1 || W_r.cols() < 1 || (b_r != nullptr && (b_r->rows() != 1 || b_r->cols() != W_r.rows())))
    throw std::invalid_argument("ColumnParallelLinear::from_shard: the shard is " + shape_string(W_r) +
                                (b_r != nullptr ? " with a bias " + shape_string(*b_r) : std::string()) +
                                "; need (out/p, in) with a (1, out/p) bias or none");
  ColumnParallelLinear out;
  out.rank_ = rank;
  out.p_ = p;
  out.has_bias_ = b_r != nullptr;
  out.weight_ = to_device(W_r);
  if (out.has_bias_) out.bias_ = to_device(*b_r);
  out.options_ = options;
  return out;
}

ColumnParallelLinear ColumnParallelLinear::from_master(const Matrix& W, const Matrix* bias, int rank, int p,
                                                       atp::sim::ColumnParallelOptions options) {
  // The simulator slices (and validates), so both sides hold the very same shard.
  const auto layer = atp::sim::ColumnParallelLinear::from_master(W, bias, p, options);
  return from_sim(layer, rank);
}

DeviceMatrix ColumnParallelLinear::forward(Communicator& comm, const DeviceMatrix& x) const {
  check_layer_comm(comm, rank_, p_, "ColumnParallelLinear::forward");
  if (x.cols() != in_features())
    throw std::invalid_argument("ColumnParallelLinear::forward: x is " + x.shape() +
                                " but must be (T, in_features) = (" + std::to_string(x.rows()) + ", " +
                                std::to_string(in_features()) + ")");
  const bool add_bias = has_bias_ && !options_.skip_bias_add;
  // Leaving a sequence-parallel region (chapter 12): gather every rank's tokens first.
  const DeviceMatrix gathered = options_.sequence_parallel ? all_gather(comm, x, Axis::Rows) : DeviceMatrix();
  DeviceMatrix y = linear(options_.sequence_parallel ? gathered : x, weight_, add_bias ? &bias_ : nullptr, comm.stream());
  if (options_.gather_output) return all_gather(comm, y, Axis::Cols);  // waits for the stream
  comm.wait("ColumnParallelLinear::forward");
  return y;
}

MergedColumnParallelLinear MergedColumnParallelLinear::from_masters(const std::vector<Matrix>& Ws,
                                                                    const std::vector<const Matrix*>& biases, int rank,
                                                                    int p, atp::sim::ColumnParallelOptions options) {
  const auto merged = atp::sim::MergedColumnParallelLinear::from_masters(Ws, biases, p, options);
  atp::sim::ColumnParallelOptions inner = options;
  inner.gather_output = false;
  const auto fused = atp::sim::ColumnParallelLinear::from_shards(merged.weight(), merged.bias(), inner);
  return MergedColumnParallelLinear(ColumnParallelLinear::from_sim(fused, rank), merged.output_sizes(),
                                    options.gather_output);
}

MergedColumnParallelLinear MergedColumnParallelLinear::from_shard(const Matrix& W_r, const Matrix* b_r,
                                                                  std::vector<Eigen::Index> output_sizes, int rank,
                                                                  int p, atp::sim::ColumnParallelOptions options) {
  Eigen::Index local_out = 0;
  for (std::size_t i = 0; i < output_sizes.size(); ++i)
    local_out += atp::sim::tp_divide(output_sizes[i], p, "weight " + std::to_string(i) + " out_features");
  if (output_sizes.empty() || W_r.rows() != local_out)
    throw std::invalid_argument("MergedColumnParallelLinear::from_shard: the stacked shard is " + shape_string(W_r) +
                                " but the output sizes give " + std::to_string(local_out) + " rows per rank");
  atp::sim::ColumnParallelOptions inner = options;
  inner.gather_output = false;
  return MergedColumnParallelLinear(ColumnParallelLinear::from_shard(W_r, b_r, rank, p, inner),
                                    std::move(output_sizes), options.gather_output);
}

DeviceMatrix MergedColumnParallelLinear::forward(Communicator& comm, const DeviceMatrix& x) const {
  DeviceMatrix y = layer_.forward(comm, x);
  if (!gather_output_) return y;
  const DeviceMatrix g = all_gather(comm, y, Axis::Cols);
  // The gather lays ranks side by side; copy each master's blocks back into [y_0 | y_1 | ...].
  DeviceMatrix out(g.rows(), g.cols());
  const std::size_t pitch = static_cast<std::size_t>(g.cols()) * sizeof(float);
  const int p = layer_.p(), local_out = y.cols();
  int dst = 0, local_at = 0;
  for (Eigen::Index size : output_sizes_) {
    const int n = static_cast<int>(size) / p;
    for (int s = 0; s < p; ++s)
      ATP_CUDA_CHECK(cudaMemcpy2DAsync(out.data() + dst + s * n, pitch, g.data() + s * local_out + local_at, pitch,
                                       static_cast<std::size_t>(n) * sizeof(float), static_cast<std::size_t>(g.rows()),
                                       cudaMemcpyDeviceToDevice, comm.stream()));
    dst += static_cast<int>(size);
    local_at += n;
  }
  comm.wait("MergedColumnParallelLinear::forward");
  return out;
}

}  // namespace atp::cuda
