/// \file parallel_mlp.cpp
/// \brief ParallelMLP and ParallelGatedMLP on the simulator: two layers from
/// chapters 2-3 and an elementwise epilogue between them.
#include "atp/sim/layers/parallel_mlp.hpp"

#include "atp/sim/layers/tp_divide.hpp"
#include "atp/sim/narrate.hpp"

#include <stdexcept>
#include <utility>

namespace atp::sim {
namespace {

void require_shape(const Matrix& m, Eigen::Index rows, Eigen::Index cols, const std::string& what,
                   const std::string& why) {
  if (m.rows() != rows || m.cols() != cols)
    throw std::invalid_argument(what + " is " + shape_string(m) + " but must be " + shape_string(rows, cols) + " (" +
                                why + ")");
}

/// The up (or gate_up) projection's options: it leaves the sequence-parallel region.
ColumnParallelOptions up_options(const ParallelMLPOptions& options) {
  ColumnParallelOptions col;
  col.sequence_parallel = options.sequence_parallel;
  return col;
}

/// The down projection's options: the reduce order, and the sequence-parallel reduce-scatter.
RowParallelOptions down_options(const ParallelMLPOptions& options) {
  RowParallelOptions row;
  row.input_is_parallel = true;  // a_r is already rank r's columns of the intermediate
  row.order = options.order;
  row.tree_segments = options.tree_segments;
  row.sequence_parallel = options.sequence_parallel;
  return row;
}

/// The epilogue on every rank's slice: no rank looks at another's columns.
template <class F>
PerRank<Matrix> per_rank(const PerRank<Matrix>& x, F&& f) {
  return make_per_rank(x.size(), [&](int r) -> Matrix { return f(x[r]); });
}

}  // namespace

Matrix gelu(GeluForm form, const Matrix& m) {
  Matrix out(m.rows(), m.cols());
  for (Eigen::Index i = 0; i < m.size(); ++i) out.data()[i] = atp::gelu(form, m.data()[i]);
  return out;
}

Matrix swiglu(const Matrix& gate_up) {
  if (gate_up.cols() % 2 != 0)
    throw std::invalid_argument("swiglu: [gate | up] is " + shape_string(gate_up) +
                                "; it needs an even number of columns (gate and up halves of equal width)");
  const Eigen::Index c = gate_up.cols() / 2;
  Matrix out(gate_up.rows(), c);
  for (Eigen::Index t = 0; t < gate_up.rows(); ++t)
    for (Eigen::Index j = 0; j < c; ++j) out(t, j) = atp::swiglu(gate_up(t, j), gate_up(t, c + j));
  return out;
}

// ---------------------------------------------------------------------------
// GELU MLP
// ---------------------------------------------------------------------------

ParallelMLP ParallelMLP::from_master(const Matrix& W_up, const Matrix& b_up, const Matrix& W_down,
                                     const Matrix& b_down, int p, ParallelMLPOptions options) {
  const Eigen::Index I = W_up.rows(), H = W_up.cols();
  tp_divide(I, p, "ParallelMLP: intermediate size");
  require_shape(b_up, 1, I, "ParallelMLP: b_up", "one bias per intermediate feature of W_up " + shape_string(W_up));
  require_shape(W_down, H, I, "ParallelMLP: W_down", "(hidden, intermediate) to match W_up " + shape_string(W_up));
  require_shape(b_down, 1, H, "ParallelMLP: b_down", "one bias per hidden feature");
  return ParallelMLP(ColumnParallelLinear::from_master(W_up, &b_up, p, up_options(options)),
                     RowParallelLinear::from_master(W_down, &b_down, p, down_options(options)), options);
}

ParallelMLP ParallelMLP::from_parts(ColumnParallelLinear up, RowParallelLinear down, ParallelMLPOptions options) {
  if (up.p() != down.p() || up.out_features() != down.in_features() || up.in_features() != down.out_features() ||
      up.options().gather_output || !down.options().input_is_parallel)
    throw std::invalid_argument("ParallelMLP::from_parts: up (" + std::to_string(up.out_features()) + ", " +
                                std::to_string(up.in_features()) + ") on tp " + std::to_string(up.p()) +
                                " and down (" + std::to_string(down.out_features()) + ", " +
                                std::to_string(down.in_features()) + ") on tp " + std::to_string(down.p()) +
                                " do not make an MLP: need (I, H) and (H, I) on the same tp, up not gathered, "
                                "down input_is_parallel");
  return ParallelMLP(std::move(up), std::move(down), options);
}

MLPForward ParallelMLP::forward_steps(World& world, const PerRank<Matrix>& x, const std::string& label) const {
  MLPForward f;
  f.intermediate = up_.forward(world, x, label + ".up");
  narrate(world, label + ": h_r = x W_up_r^T + b_up_r, rank r's columns of the intermediate", f.intermediate);
  // The local step that makes column-then-row work: gelu sees one element at a time.
  f.activated = per_rank(f.intermediate, [&](const Matrix& h) { return gelu(options_.gelu, h); });
  narrate(world, label + ": a_r = gelu(h_r), on each rank's own slice (no communication)", f.activated);
  World scratch(world.size());  // partial sums for the record; the real trace gets only forward()'s ops
  f.partial_sums = down_.partial_sums(scratch, f.activated, label + ".down");
  narrate(world, label + ": y_r = a_r W_down_r^T, the partial sums entering the all-reduce", f.partial_sums);
  f.output = down_.forward(world, f.activated, label + ".down");
  narrate(world, label + ": y = all_reduce(y_r) + b_down, the same on every rank", f.output);
  return f;
}

PerRank<Matrix> ParallelMLP::forward(World& world, const PerRank<Matrix>& x, const std::string& label) const {
  const auto h = up_.forward(world, x, label + ".up");
  const auto a = per_rank(h, [&](const Matrix& m) { return gelu(options_.gelu, m); });
  return down_.forward(world, a, label + ".down");
}

void ParallelMLP::account_memory(World& world, const std::string& label) const {
  up_.account_memory(world, label + ".up");
  down_.account_memory(world, label + ".down");
}

// ---------------------------------------------------------------------------
// Gated (SwiGLU) MLP
// ---------------------------------------------------------------------------

ParallelGatedMLP ParallelGatedMLP::from_master(const Matrix& W_gate, const Matrix& W_up, const Matrix& W_down, int p,
                                               ParallelMLPOptions options) {
  const Eigen::Index I = W_gate.rows(), H = W_gate.cols();
  tp_divide(I, p, "ParallelGatedMLP: intermediate size");
  require_shape(W_up, I, H, "ParallelGatedMLP: W_up", "gate and up must have the same shape " + shape_string(W_gate) +
                                                           ", so rank r's gate and up slices pair element by element");
  require_shape(W_down, H, I, "ParallelGatedMLP: W_down",
                "(hidden, intermediate) to match W_gate " + shape_string(W_gate));
  return ParallelGatedMLP(MergedColumnParallelLinear::from_masters({W_gate, W_up}, {}, p, up_options(options)),
                          RowParallelLinear::from_master(W_down, nullptr, p, down_options(options)), options);
}

ParallelGatedMLP ParallelGatedMLP::from_parts(MergedColumnParallelLinear gate_up, RowParallelLinear down,
                                              ParallelMLPOptions options) {
  const auto& sizes = gate_up.output_sizes();
  if (sizes.size() != 2 || sizes[0] != sizes[1] || gate_up.p() != down.p() || down.in_features() != sizes[0] ||
      down.out_features() != gate_up.in_features() || gate_up.options().gather_output ||
      !down.options().input_is_parallel)
    throw std::invalid_argument("ParallelGatedMLP::from_parts: gate_up with " + std::to_string(sizes.size()) +
                                " merged outputs (need gate and up of one size I) on tp " +
                                std::to_string(gate_up.p()) + " and down (" + std::to_string(down.out_features()) +
                                ", " + std::to_string(down.in_features()) + ") on tp " + std::to_string(down.p()) +
                                " do not make a gated MLP (down must be (H, I), input_is_parallel, same tp)");
  return ParallelGatedMLP(std::move(gate_up), std::move(down), options);
}

MLPForward ParallelGatedMLP::forward_steps(World& world, const PerRank<Matrix>& x, const std::string& label) const {
  MLPForward f;
  f.intermediate = gate_up_.forward(world, x, label + ".gate_up");
  narrate(world, label + ": [g_r | u_r] = x [W_gate_r; W_up_r]^T, one matmul per rank", f.intermediate);
  f.activated = per_rank(f.intermediate, [](const Matrix& gu) { return swiglu(gu); });
  narrate(world, label + ": a_r = silu(g_r) * u_r, pairing column j with column I/p + j (no communication)",
          f.activated);
  World scratch(world.size());
  f.partial_sums = down_.partial_sums(scratch, f.activated, label + ".down");
  narrate(world, label + ": y_r = a_r W_down_r^T, the partial sums entering the all-reduce", f.partial_sums);
  f.output = down_.forward(world, f.activated, label + ".down");
  narrate(world, label + ": y = all_reduce(y_r), the same on every rank", f.output);
  return f;
}

PerRank<Matrix> ParallelGatedMLP::forward(World& world, const PerRank<Matrix>& x, const std::string& label) const {
  const auto gu = gate_up_.forward(world, x, label + ".gate_up");
  const auto a = per_rank(gu, [](const Matrix& m) { return swiglu(m); });
  return down_.forward(world, a, label + ".down");
}

void ParallelGatedMLP::account_memory(World& world, const std::string& label) const {
  gate_up_.account_memory(world, label + ".gate_up");
  down_.account_memory(world, label + ".down");
}

}  // namespace atp::sim
