/// \file parallel_mlp.cpp
/// \brief GPU ParallelMLP and ParallelGatedMLP: one rank's up (or gate_up),
///        elementwise epilogue, down with its single all-reduce.
#include "atp/cuda/layers/parallel_mlp.hpp"

#include "atp/cuda/check.hpp"
#include "atp/cuda/mlp_kernels.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

RowParallelOptions down_options(const ParallelMLPOptions& options) {
  RowParallelOptions row;
  row.input_is_parallel = true;  // a_r is already this rank's columns of the intermediate
  row.form = options.form;
  row.tree_segments = options.tree_segments;
  row.sequence_parallel = options.sequence_parallel;
  return row;
}

atp::sim::ParallelMLPOptions sim_options(const ParallelMLPOptions& options) {
  return {options.gelu, sim_order(options.form), options.tree_segments, options.sequence_parallel};
}

}  // namespace

DeviceMatrix gelu(GeluForm form, const DeviceMatrix& x, cudaStream_t stream) {
  DeviceMatrix y(x.rows(), x.cols());
  launch_gelu(form, x.data(), y.data(), x.size(), stream);
  return y;
}

DeviceMatrix swiglu(const DeviceMatrix& gate_up, cudaStream_t stream) {
  if (gate_up.cols() % 2 != 0)
    throw std::invalid_argument("swiglu: [gate | up] is " + gate_up.shape() +
                                "; it needs an even number of columns (gate and up halves of equal width)");
  DeviceMatrix a(gate_up.rows(), gate_up.cols() / 2);
  launch_swiglu(gate_up.data(), a.data(), gate_up.rows(), gate_up.cols() / 2, stream);
  return a;
}

// ---------------------------------------------------------------------------
// GELU MLP
// ---------------------------------------------------------------------------

ParallelMLP ParallelMLP::from_master(const Matrix& W_up, const Matrix& b_up, const Matrix& W_down,
                                     const Matrix& b_down, int rank, int p, ParallelMLPOptions options) {
  // The simulator validates and slices: both sides refuse the same sizes and hold the same shards.
  const auto sim = atp::sim::ParallelMLP::from_master(W_up, b_up, W_down, b_down, p, sim_options(options));
  return ParallelMLP(ColumnParallelLinear::from_sim(sim.up(), rank),
                     RowParallelLinear::from_master(W_down, &b_down, rank, p, down_options(options)), options);
}

ParallelMLP ParallelMLP::from_parts(ColumnParallelLinear up, RowParallelLinear down, ParallelMLPOptions options) {
  if (up.rank() != down.rank() || up.p() != down.p() || up.out_features() != down.in_features() ||
      up.in_features() != down.out_features())
    throw std::invalid_argument("ParallelMLP::from_parts: up (" + std::to_string(up.out_features()) + ", " +
                                std::to_string(up.in_features()) + ") and down (" + std::to_string(down.out_features()) +
                                ", " + std::to_string(down.in_features()) + ") on ranks " + std::to_string(up.rank()) +
                                " and " + std::to_string(down.rank()) + " do not make one rank's MLP");
  return ParallelMLP(std::move(up), std::move(down), options);
}

MLPForward ParallelMLP::forward_steps(Communicator& comm, const DeviceMatrix& x) const {
  MLPForward f;
  f.intermediate = up_.forward(comm, x);
  f.activated = gelu(options_.gelu, f.intermediate, comm.stream());  // local: no communication
  f.partial_sum = down_.partial_sum(comm, f.activated);
  f.output = down_.forward(comm, f.activated);
  return f;
}

DeviceMatrix ParallelMLP::forward(Communicator& comm, const DeviceMatrix& x) const {
  const DeviceMatrix h = up_.forward(comm, x);
  const DeviceMatrix a = gelu(options_.gelu, h, comm.stream());
  return down_.forward(comm, a);
}

// ---------------------------------------------------------------------------
// Gated (SwiGLU) MLP
// ---------------------------------------------------------------------------

ParallelGatedMLP ParallelGatedMLP::from_master(const Matrix& W_gate, const Matrix& W_up, const Matrix& W_down, int rank,
                                               int p, ParallelMLPOptions options) {
  atp::sim::ParallelGatedMLP::from_master(W_gate, W_up, W_down, p, sim_options(options));  // validates, as the CPU
  atp::sim::ColumnParallelOptions gate_up;
  gate_up.sequence_parallel = options.sequence_parallel;  // the gate/up projection leaves the SP region
  return ParallelGatedMLP(MergedColumnParallelLinear::from_masters({W_gate, W_up}, {}, rank, p, gate_up),
                          RowParallelLinear::from_master(W_down, nullptr, rank, p, down_options(options)), options);
}

ParallelGatedMLP ParallelGatedMLP::from_parts(MergedColumnParallelLinear gate_up, RowParallelLinear down,
                                              ParallelMLPOptions options) {
  const auto& sizes = gate_up.output_sizes();
  if (sizes.size() != 2 || sizes[0] != sizes[1] || gate_up.rank() != down.rank() || gate_up.p() != down.p() ||
      down.in_features() != sizes[0] || down.out_features() != gate_up.layer().in_features())
    throw std::invalid_argument("ParallelGatedMLP::from_parts: gate_up with " + std::to_string(sizes.size()) +
                                " merged outputs and down (" + std::to_string(down.out_features()) + ", " +
                                std::to_string(down.in_features()) + ") do not make one rank's gated MLP");
  return ParallelGatedMLP(std::move(gate_up), std::move(down), options);
}

MLPForward ParallelGatedMLP::forward_steps(Communicator& comm, const DeviceMatrix& x) const {
  MLPForward f;
  f.intermediate = gate_up_.forward(comm, x);
  f.activated = swiglu(f.intermediate, comm.stream());
  f.partial_sum = down_.partial_sum(comm, f.activated);
  f.output = down_.forward(comm, f.activated);
  return f;
}

DeviceMatrix ParallelGatedMLP::forward(Communicator& comm, const DeviceMatrix& x) const {
  const DeviceMatrix gu = gate_up_.forward(comm, x);
  const DeviceMatrix a = swiglu(gu, comm.stream());
  return down_.forward(comm, a);
}

}  // namespace atp::cuda
