/// \file column_parallel_linear.hpp
/// \brief ColumnParallelLinear and MergedColumnParallelLinear: a linear layer
///        split by output features across p simulated ranks (chapter 2).
///
/// Legend: T = tokens, in = input features, out = output features, p = tp size.
/// Storage as in nn.Linear: y = x W^T + b, W (out, in), x (T, in), b (1, out).
///
///                 W (out, in)                     rank r computes
///        +---------------------------+
///        |  W_0   rows [0, out/p)    |  --->  y_0 = x W_0^T + b_0   (T, out/p)
///        +---------------------------+
///        |  W_1   rows [out/p, 2out/p)| --->  y_1 = x W_1^T + b_1   (T, out/p)
///        +---------------------------+
///        |  ...                      |
///        +---------------------------+
///        |  W_{p-1}                  |  --->  y_{p-1}
///        +---------------------------+
///
///        y = [ y_0 | y_1 | ... | y_{p-1} ]   (T, out), only if gather_output
///
/// Every element of y is one whole dot product over `in`, computed on one
/// rank in the canonical fma order, so the layer is bitwise equal to the
/// dense atp::linear: nothing is summed across ranks. The input x is the same
/// on every rank: Megatron-LM's f ("copy to tensor-parallel region") is the
/// identity in the forward pass (its backward would all-reduce gradients).
/// Names follow Megatron-LM (`gather_output`, `skip_bias_add`) and vLLM
/// (`MergedColumnParallelLinear`). With `sequence_parallel` (chapter 12) x
/// arrives as rank r's rows (T/p, in) and one all-gather along the tokens
/// (sequence_parallel.hpp) rebuilds (T, in) before the matmul, as Megatron's
/// ColumnParallelLinear does. Leaves out: the backward pass, uneven splits,
/// quantised weights.
#pragma once

#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <string>
#include <vector>

namespace atp::sim {

/// Options of a column-parallel layer, named as in Megatron-LM.
struct ColumnParallelOptions {
  /// All-gather the per-rank outputs along columns so every rank holds the full (T, out).
  bool gather_output = false;
  /// Do not add the bias in forward(); the caller adds bias() later (Megatron
  /// returns it for fusion with the next elementwise op).
  bool skip_bias_add = false;
  /// x arrives as rank r's tokens [r T/p, (r+1) T/p) and is all-gathered along
  /// rows first (label + ".sp_gather"): leaving a sequence-parallel region.
  bool sequence_parallel = false;
};

/// A linear layer whose weight rows (output features) are split across p ranks.
class ColumnParallelLinear {
 public:
  /// Shards W (out, in) by output rows: rank r holds W_r = rows [r*out/p, (r+1)*out/p)
  /// and b_r = the same columns of bias (1, out) (bias may be nullptr).
  /// \throws std::invalid_argument naming out and p unless p divides out, or
  ///         naming the shapes if bias is not (1, out).
  static ColumnParallelLinear from_master(const Matrix& W, const Matrix* bias, int p,
                                          ColumnParallelOptions options = {});
  /// Wraps shards built elsewhere (MergedColumnParallelLinear stacks several
  /// masters): weight[r] (out/p, in), bias[r] (1, out/p) or (0, 0) on every rank.
  /// \throws std::invalid_argument if the shards disagree in shape.
  static ColumnParallelLinear from_shards(PerRank<Matrix> weight, PerRank<Matrix> bias,
                                          ColumnParallelOptions options = {});

  /// Tensor-parallel size p.
  int p() const { return weight_.size(); }
  /// in: the input features (every rank sees all of them).
  Eigen::Index in_features() const { return weight_[0].cols(); }
  /// out: the output features of the whole layer (p * out/p).
  Eigen::Index out_features() const { return weight_[0].rows() * p(); }
  /// W_r (out/p, in) per rank.
  const PerRank<Matrix>& weight() const { return weight_; }
  /// b_r (1, out/p) per rank, or (0, 0) on every rank without a bias.
  const PerRank<Matrix>& bias() const { return bias_; }
  /// True if the layer has a bias.
  bool has_bias() const { return bias_[0].size() > 0; }
  /// The options it was built with.
  const ColumnParallelOptions& options() const { return options_; }

  /// x: the same (T, in) on every rank (with sequence_parallel: rank r's
  /// (T/p, in), all-gathered first). Returns y_r = x W_r^T + b_r (T, out/p)
  /// per rank, or (T, out) on every rank when gather_output (one all_gather
  /// along cols, label + ".gather"). Records one matmul per rank.
  /// \throws std::invalid_argument naming the rank and shapes if x is not (T, in)
  ///         on every rank of a world of size p.
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, const std::string& label) const;

  /// Puts the shards in world.memory() as MemoryKind::Weight entries named
  /// label + ".weight" and label + ".bias" (if any).
  void account_memory(World& world, const std::string& label) const;

 private:
  ColumnParallelLinear(PerRank<Matrix> weight, PerRank<Matrix> bias, ColumnParallelOptions options)
      : weight_(std::move(weight)), bias_(std::move(bias)), options_(options) {}
  PerRank<Matrix> weight_;
  PerRank<Matrix> bias_;
  ColumnParallelOptions options_;
};

/// Several column-parallel layers on the same input (gate and up of a SwiGLU
/// MLP) fused into one weight, as vLLM's MergedColumnParallelLinear:
///
///     rank r holds [ rows r of W_0 ; rows r of W_1 ; ... ]   (sum_i out_i/p, in)
///     its output   [ y_0 slice r  | y_1 slice r  | ... ]     (T, sum_i out_i/p)
///
/// so one matmul per rank computes rank r's slice of every output, and each
/// element is still one whole dot product: bitwise equal to the dense layers.
class MergedColumnParallelLinear {
 public:
  /// Ws: k >= 1 masters (out_i, in) with the same in; biases: empty (no bias)
  /// or k pointers, all null or all (1, out_i).
  /// \throws std::invalid_argument naming the offending index, size and p.
  static MergedColumnParallelLinear from_masters(const std::vector<Matrix>& Ws,
                                                 const std::vector<const Matrix*>& biases, int p,
                                                 ColumnParallelOptions options = {});
  /// Wraps stacked shards read elsewhere: weight[r] (sum_i out_i/p, in) holding
  /// rank r's slice of each master in order, bias[r] likewise or (0, 0) on
  /// every rank; `output_sizes` are the masters' out_i.
  /// \throws std::invalid_argument naming the sizes if p does not divide an
  ///         out_i or the shards do not stack to sum_i out_i/p rows.
  static MergedColumnParallelLinear from_shards(PerRank<Matrix> weight, PerRank<Matrix> bias,
                                                std::vector<Eigen::Index> output_sizes,
                                                ColumnParallelOptions options = {});

  /// Tensor-parallel size p.
  int p() const { return layer_.p(); }
  /// in: the input features.
  Eigen::Index in_features() const { return layer_.in_features(); }
  /// sum_i out_i: the output features of all merged layers together.
  Eigen::Index out_features() const { return layer_.out_features(); }
  /// out_i of each merged master, in order.
  const std::vector<Eigen::Index>& output_sizes() const { return output_sizes_; }
  /// Rank r's stacked shard (sum_i out_i/p, in).
  const PerRank<Matrix>& weight() const { return layer_.weight(); }
  /// Rank r's stacked bias (1, sum_i out_i/p), or (0, 0) on every rank.
  const PerRank<Matrix>& bias() const { return layer_.bias(); }
  /// The options it was built with.
  const ColumnParallelOptions& options() const { return options_; }

  /// x: the same (T, in) on every rank. Returns [y_0 slice r | y_1 slice r | ...]
  /// (T, sum out_i/p) per rank; with gather_output, [y_0 | y_1 | ...] (T, sum out_i)
  /// on every rank (one all_gather, then columns put back in master order).
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, const std::string& label) const;

  /// Output i's slice on every rank: y_i's columns of forward()'s per-rank
  /// result (call it on a result computed without gather_output).
  PerRank<Matrix> output_part(const PerRank<Matrix>& y, int i) const;

  /// As ColumnParallelLinear::account_memory (one entry for the stacked weight).
  void account_memory(World& world, const std::string& label) const { layer_.account_memory(world, label); }

 private:
  MergedColumnParallelLinear(ColumnParallelLinear layer, std::vector<Eigen::Index> sizes, ColumnParallelOptions options)
      : layer_(std::move(layer)), output_sizes_(std::move(sizes)), options_(options) {}
  ColumnParallelLinear layer_;  // built without gather_output: this class regathers in master order
  std::vector<Eigen::Index> output_sizes_;
  ColumnParallelOptions options_;
};

}  // namespace atp::sim
