/// \file parallel_mlp.hpp
/// \brief GPU ParallelMLP (GELU) and ParallelGatedMLP (SwiGLU): this rank's
///        part of the tensor-parallel MLP (chapter 4), the twin of
///        atp/sim/layers/parallel_mlp.hpp.
///
/// Legend: T = tokens, H = hidden, I = intermediate, p = ranks; rank r of p.
///
///     GELU:  h_r = x W_up_r^T + b_up_r (T, I/p) -> a_r = gelu(h_r) (T, I/p)
///            -> y = all_reduce(a_r W_down_r^T) + b_down (T, H)
///     gated: [g_r | u_r] = x [W_gate_r; W_up_r]^T (T, 2I/p) -> a_r = silu(g_r) * u_r
///            -> y = all_reduce(a_r W_down_r^T) (T, H)
///
/// One rank per process. The layers are the GPU ColumnParallelLinear,
/// MergedColumnParallelLinear and RowParallelLinear; between them, one
/// elementwise kernel (mlp_kernels.hpp) calling the same atp::gelu /
/// atp::swiglu as the simulator, so with AllReduceForm::RankOrder (or Ring)
/// every tensor equals the simulator's bit for bit. No communication happens
/// between the two layers. The masters are validated and sliced by the
/// simulator's from_master, so both sides refuse the same sizes with the same words.
///
/// The options of chapters 11 and 12 (AllReduceForm::Tree, sequence_parallel)
/// mean what they mean for atp::sim::ParallelMLPOptions.
///
/// Left out: fusing the epilogue into the matmul, the backward pass.
#pragma once

#include "atp/activations.hpp"
#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/layers/column_parallel_linear.hpp"
#include "atp/cuda/layers/row_parallel_linear.hpp"
#include "atp/tensor.hpp"

#include <cuda_runtime.h>

namespace atp::cuda {

/// Options of both GPU MLPs: the simulator's, with an AllReduceForm for the order.
struct ParallelMLPOptions {
  GeluForm gelu = GeluForm::Tanh;                 ///< which GELU (ignored by the gated MLP)
  AllReduceForm form = AllReduceForm::RankOrder;  ///< the down projection's all-reduce (Tree: chapter 11)
  int tree_segments = atp::kDefaultTreeSegments;  ///< S for AllReduceForm::Tree
  bool sequence_parallel = false;                 ///< x and y are this rank's tokens (T/p, H) (chapter 12)
};

/// Every tensor of one rank's MLP forward, on the device.
struct MLPForward {
  DeviceMatrix intermediate;  ///< h_r (T, I/p), or [g_r | u_r] (T, 2I/p)
  DeviceMatrix activated;     ///< a_r (T, I/p)
  DeviceMatrix partial_sum;   ///< y_r = a_r W_down_r^T (T, H): this rank's input to the all-reduce
  DeviceMatrix output;        ///< y (T, H), the same on every rank
};

/// atp::gelu(form, .) on every element of x, on `stream` (not synchronised).
DeviceMatrix gelu(GeluForm form, const DeviceMatrix& x, cudaStream_t stream = nullptr);

/// (T, c) = atp::swiglu(gate, up) for gate_up (T, 2c) = [gate | up], on `stream` (not synchronised).
/// \throws std::invalid_argument naming the shape if gate_up has an odd number of columns.
DeviceMatrix swiglu(const DeviceMatrix& gate_up, cudaStream_t stream = nullptr);

/// Rank r's part of the GELU MLP: ColumnParallelLinear up, gelu, RowParallelLinear down.
class ParallelMLP {
 public:
  /// Uploads rank `rank`'s shards of W_up (I, H), b_up (1, I), W_down (H, I); b_down (1, H) whole.
  /// \throws std::invalid_argument as atp::sim::ParallelMLP::from_master, or naming rank and p.
  static ParallelMLP from_master(const Matrix& W_up, const Matrix& b_up, const Matrix& W_down, const Matrix& b_down,
                                 int rank, int p, ParallelMLPOptions options = {});
  /// Assembles this rank's MLP from layers built elsewhere (from its shards).
  /// \throws std::invalid_argument unless up (I/p rows) and down (I/p columns) fit, on the same rank and p.
  static ParallelMLP from_parts(ColumnParallelLinear up, RowParallelLinear down, ParallelMLPOptions options = {});
  /// This rank.
  int rank() const { return up_.rank(); }
  /// Tensor-parallel size p.
  int p() const { return up_.p(); }
  /// The up projection (this rank's rows of W_up and b_up).
  const ColumnParallelLinear& up() const { return up_; }
  /// The down projection (this rank's columns of W_down).
  const RowParallelLinear& down() const { return down_; }
  /// The options it was built with.
  const ParallelMLPOptions& options() const { return options_; }

  /// x (T, H), the same on every rank -> y (T, H) on every rank; one all-reduce. Returns once finished.
  DeviceMatrix forward(Communicator& comm, const DeviceMatrix& x) const;
  /// forward(), keeping every intermediate tensor (the partial sum is computed once more for the record).
  MLPForward forward_steps(Communicator& comm, const DeviceMatrix& x) const;

 private:
  ParallelMLP(ColumnParallelLinear up, RowParallelLinear down, ParallelMLPOptions options)
      : up_(std::move(up)), down_(std::move(down)), options_(options) {}
  ColumnParallelLinear up_;
  RowParallelLinear down_;
  ParallelMLPOptions options_;
};

/// Rank r's part of Llama's gated MLP: MergedColumnParallelLinear gate_up, swiglu, RowParallelLinear down.
class ParallelGatedMLP {
 public:
  /// Uploads rank `rank`'s [rows r of W_gate; rows r of W_up] (2I/p, H) and columns r of W_down. No biases.
  /// \throws std::invalid_argument as atp::sim::ParallelGatedMLP::from_master, or naming rank and p.
  static ParallelGatedMLP from_master(const Matrix& W_gate, const Matrix& W_up, const Matrix& W_down, int rank, int p,
                                      ParallelMLPOptions options = {});
  /// Assembles this rank's gated MLP from layers built elsewhere: gate_up merges gate and up of size I.
  /// \throws std::invalid_argument unless the sizes fit, on the same rank and p.
  static ParallelGatedMLP from_parts(MergedColumnParallelLinear gate_up, RowParallelLinear down,
                                     ParallelMLPOptions options = {});
  /// This rank.
  int rank() const { return gate_up_.rank(); }
  /// Tensor-parallel size p.
  int p() const { return gate_up_.p(); }
  /// The merged gate/up projection.
  const MergedColumnParallelLinear& gate_up() const { return gate_up_; }
  /// The down projection.
  const RowParallelLinear& down() const { return down_; }
  /// The options it was built with.
  const ParallelMLPOptions& options() const { return options_; }

  /// x (T, H) -> y (T, H) on every rank; one all-reduce. Returns once finished.
  DeviceMatrix forward(Communicator& comm, const DeviceMatrix& x) const;
  /// forward(), keeping every intermediate tensor (intermediate = [g_r | u_r]).
  MLPForward forward_steps(Communicator& comm, const DeviceMatrix& x) const;

 private:
  ParallelGatedMLP(MergedColumnParallelLinear gate_up, RowParallelLinear down, ParallelMLPOptions options)
      : gate_up_(std::move(gate_up)), down_(std::move(down)), options_(options) {}
  MergedColumnParallelLinear gate_up_;
  RowParallelLinear down_;
  ParallelMLPOptions options_;
};

}  // namespace atp::cuda
