/// \file parallel_mlp.hpp
/// \brief The tensor-parallel MLP: column-parallel up projection, the
/// activation on each rank's slice, row-parallel down projection, one
/// all-reduce. Both the GELU MLP (GPT, ViT, CLIP) and Llama's gated SwiGLU MLP.
///
/// Legend: T = tokens, H = hidden size, I = intermediate size, p = ranks.
///
///     GELU MLP (Megatron-LM's ParallelMLP):
///       x (T, H), the same on every rank (Megatron's f: identity forward)
///       h_r = x W_up_r^T + b_up_r        (T, I/p)  W_up_r = rows [r I/p, (r+1) I/p) of W_up (I, H)
///       a_r = gelu(h_r)                   (T, I/p)  elementwise: no communication
///       y_r = a_r W_down_r^T              (T, H)    W_down_r = cols [r I/p, (r+1) I/p) of W_down (H, I)
///       y   = all_reduce(y_0..y_{p-1}) + b_down     (Megatron's g: the ONE all-reduce)
///
///     Gated MLP (Llama's SwiGLU, vLLM's MergedColumnParallelLinear gate_up_proj):
///       gu_r = x [W_gate_r; W_up_r]^T     (T, 2I/p) = [g_r | u_r]; rank r holds the SAME rows
///                                                      r of W_gate and of W_up
///       a_r  = silu(g_r) * u_r            (T, I/p)  elementwise, pairs columns j and I/p + j
///       y    = all_reduce(a_r W_down_r^T) (T, H)    no biases (Llama has none)
///
/// The activation is elementwise, so it applies to each rank's columns of the
/// intermediate without seeing the others'; gelu(a + b) != gelu(a) + gelu(b),
/// so the opposite order (row first) would need an all-reduce before it.
/// The epilogues are atp::gelu and atp::swiglu (atp/activations.hpp), shared
/// with the CUDA kernels. Options from later chapters: order = ReduceOrder::Tree
/// makes the down projection's sums the blocked tree order (chapter 11: the
/// same bits at every tp dividing tree_segments); sequence_parallel takes x as
/// rank r's tokens (T/p, H), all-gathers it before the up projection and
/// reduce-scatters the down projection's sums (chapter 12), returning (T/p, H).
/// Leaves out: dropout, the backward pass, fusing the epilogue into the matmul.
#pragma once

#include "atp/activations.hpp"
#include "atp/sim/layers/column_parallel_linear.hpp"
#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <string>

namespace atp::sim {

/// Every tensor of one MLP forward, per rank, for narration, dumps and tests.
struct MLPForward {
  PerRank<Matrix> intermediate;  ///< GELU: h_r (T, I/p); gated: [g_r | u_r] (T, 2I/p), before the epilogue
  PerRank<Matrix> activated;     ///< a_r (T, I/p): gelu(h_r), or silu(g_r) * u_r
  PerRank<Matrix> partial_sums;  ///< y_r = a_r W_down_r^T (T, H): what enters the all-reduce
  PerRank<Matrix> output;        ///< y (T, H): the same on every rank after the all-reduce (and bias)
};

/// gelu(form, .) on every element of m: the shared epilogue, applied on the CPU.
Matrix gelu(GeluForm form, const Matrix& m);

/// a (T, c) with a[t][j] = atp::swiglu(gu[t][j], gu[t][c + j]) for gu (T, 2c) = [gate | up].
/// Throws std::invalid_argument naming the shape if gu has an odd number of columns.
Matrix swiglu(const Matrix& gate_up);

/// Options of both MLPs.
struct ParallelMLPOptions {
  GeluForm gelu = GeluForm::Tanh;          ///< which GELU (ignored by the gated MLP)
  ReduceOrder order = ReduceOrder::RankOrder;  ///< the all-reduce of the down projection
  int tree_segments = atp::kDefaultTreeSegments;  ///< S for ReduceOrder::Tree (a power of two dividing I, p | S)
  bool sequence_parallel = false;  ///< x and y are rank r's tokens (T/p, H): all-gather in, reduce-scatter out
};

/// The GELU MLP: ColumnParallelLinear up (H -> I, bias), gelu, RowParallelLinear down (I -> H, bias once).
class ParallelMLP {
 public:
  /// Shards the master weights: W_up (I, H) by rows with b_up (1, I), W_down (H, I) by columns;
  /// b_down (1, H) is added once after the all-reduce. Throws std::invalid_argument naming
  /// the intermediate size and the valid tp unless p divides I, or naming the shapes if they disagree.
  static ParallelMLP from_master(const Matrix& W_up, const Matrix& b_up, const Matrix& W_down, const Matrix& b_down,
                                 int p, ParallelMLPOptions options = {});
  /// Assembles the MLP from layers built elsewhere (from shards read per rank).
  /// \throws std::invalid_argument unless up is (I, H) and down (H, I) on the same p,
  ///         up without gather_output and down with input_is_parallel.
  static ParallelMLP from_parts(ColumnParallelLinear up, RowParallelLinear down, ParallelMLPOptions options = {});

  /// Number of ranks.
  int p() const { return up_.p(); }
  /// H.
  Eigen::Index hidden() const { return up_.in_features(); }
  /// I (the full intermediate size; each rank holds I/p of it).
  Eigen::Index intermediate() const { return up_.out_features(); }
  /// The up projection (rank r: rows r of W_up and b_up).
  const ColumnParallelLinear& up() const { return up_; }
  /// The down projection (rank r: columns r of W_down; b_down whole).
  const RowParallelLinear& down() const { return down_; }
  /// The options it was built with.
  const ParallelMLPOptions& options() const { return options_; }

  /// y (T, H) on every rank from x (T, H) on every rank: label.up, label.down in the trace;
  /// exactly one all-reduce (label.down), no communication between the two layers.
  /// With sequence_parallel: x_r (T/p, H) in, y_r (T/p, H) out, an all-gather and a reduce-scatter.
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, const std::string& label) const;
  /// forward(), keeping every intermediate tensor. The partial sums are recomputed
  /// in a private world, so `world`'s trace is exactly that of forward().
  MLPForward forward_steps(World& world, const PerRank<Matrix>& x, const std::string& label) const;
  /// Puts both layers' shards in the ledger as label.up.* and label.down.*.
  void account_memory(World& world, const std::string& label) const;

 private:
  ParallelMLP(ColumnParallelLinear up, RowParallelLinear down, ParallelMLPOptions options)
      : up_(std::move(up)), down_(std::move(down)), options_(options) {}
  ColumnParallelLinear up_;
  RowParallelLinear down_;
  ParallelMLPOptions options_;
};

/// Llama's gated MLP: MergedColumnParallelLinear gate_up (H -> 2I, no bias), swiglu, RowParallelLinear down.
class ParallelGatedMLP {
 public:
  /// Shards W_gate (I, H) and W_up (I, H) into one merged weight, rank r holding
  /// [rows r of W_gate; rows r of W_up] (2I/p, H), and W_down (H, I) by columns. No biases.
  /// Throws std::invalid_argument naming the intermediate size and the valid tp unless p divides I,
  /// or naming the shapes if W_gate and W_up differ or W_down does not fit.
  static ParallelGatedMLP from_master(const Matrix& W_gate, const Matrix& W_up, const Matrix& W_down, int p,
                                      ParallelMLPOptions options = {});
  /// Assembles the gated MLP from layers built elsewhere: gate_up merges two
  /// outputs of size I (gate, then up), down is (H, I) on the same p.
  /// \throws std::invalid_argument naming the sizes otherwise.
  static ParallelGatedMLP from_parts(MergedColumnParallelLinear gate_up, RowParallelLinear down,
                                     ParallelMLPOptions options = {});

  /// Number of ranks.
  int p() const { return gate_up_.p(); }
  /// H.
  Eigen::Index hidden() const { return gate_up_.in_features(); }
  /// I (gate and up each; the merged weight has 2I rows in all).
  Eigen::Index intermediate() const { return down_.in_features(); }
  /// The merged gate/up projection.
  const MergedColumnParallelLinear& gate_up() const { return gate_up_; }
  /// The down projection.
  const RowParallelLinear& down() const { return down_; }
  /// The options it was built with.
  const ParallelMLPOptions& options() const { return options_; }

  /// y (T, H) on every rank: label.gate_up and label.down in the trace, one all-reduce.
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, const std::string& label) const;
  /// forward(), keeping every intermediate tensor (intermediate = [g_r | u_r]).
  MLPForward forward_steps(World& world, const PerRank<Matrix>& x, const std::string& label) const;
  /// Puts both layers' shards in the ledger as label.gate_up.* and label.down.*.
  void account_memory(World& world, const std::string& label) const;

 private:
  ParallelGatedMLP(MergedColumnParallelLinear gate_up, RowParallelLinear down, ParallelMLPOptions options)
      : gate_up_(std::move(gate_up)), down_(std::move(down)), options_(options) {}
  MergedColumnParallelLinear gate_up_;
  RowParallelLinear down_;
  ParallelMLPOptions options_;
};

}  // namespace atp::sim
