/// \file row_parallel_linear.hpp
/// \brief RowParallelLinear: a linear layer split by input features across p
///        simulated ranks, its partial sums joined by one all-reduce (chapter 3).
///
/// Legend: T = tokens, in = input features, out = output features, p = tp size.
/// Storage as in nn.Linear: y = x W^T + b, W (out, in), x (T, in), b (1, out).
///
///                        W (out, in)
///        +--------+--------+-----+----------+
///        |  W_0   |  W_1   | ... | W_{p-1}  |   W_r = cols [r*in/p, (r+1)*in/p)
///        +--------+--------+-----+----------+
///           x_0      x_1            x_{p-1}     x_r = the same cols of x (T, in/p)
///            |        |               |
///        y_0 = x_0 W_0^T   ...   y_{p-1}       partial sums, (T, out) each
///            \________ all-reduce ______/       Megatron's g
///                  y = y_0 + y_1 + ... + y_{p-1}  (+ b, once)
///
/// Each output element's dot product over `in` is cut into p pieces, each
/// piece runs in the canonical fma order on its rank, and the all-reduce adds
/// the pieces back: a different order from the dense layer's single fma
/// chain, so the result is close to, but not bitwise equal to, atp::linear.
/// The simulator and the GPU use the same all-reduce order (rank order or
/// NCCL's ring), so they agree in bits.
///
/// The bias is added exactly once: Megatron-LM adds it after the all-reduce
/// (BiasPlacement::AfterReduce), vLLM adds it on rank 0 inside the matmul,
/// before the reduce (BiasPlacement::Rank0BeforeReduce). The two round
/// differently.
///
/// ReduceOrder::Tree (chapter 11) cuts every dot product into S tree
/// segments (atp/matmul_tree.hpp): rank r sums its S/p segments with the
/// lower levels of one balanced tree and all_reduce_tree performs the upper
/// levels, so the output has the same bits at every p dividing S, and equals
/// the dense atp::linear_tree. sequence_parallel (chapter 12) replaces the
/// all-reduce by a reduce-scatter along the tokens: rank r keeps rows
/// [r T/p, (r+1) T/p) of the sum (Megatron's RowParallelLinear with
/// sequence_parallel). Leaves out: the backward pass, uneven splits.
#pragma once

#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"
#include "atp/tree_order.hpp"

#include <string>
#include <vector>

namespace atp::sim {

/// Which simulator all-reduce combines the partial sums.
enum class ReduceOrder {
  RankOrder,  ///< all_reduce_rank_order: ((y_0 + y_1) + ...) + y_{p-1}, the bitwise path
  Ring,       ///< all_reduce_ring: a one-channel ring in NCCL's step pattern, chunk by chunk
  Tree        ///< the blocked tree order: the same bits at every tp dividing the segments (chapter 11)
};

/// Where the bias enters the sum.
enum class BiasPlacement {
  AfterReduce,       ///< Megatron-LM: y = allreduce(y_r) + b
  Rank0BeforeReduce  ///< vLLM: rank 0 computes x_0 W_0^T + b, then the all-reduce
};

/// "rank-order", "ring" or "tree".
const char* to_string(ReduceOrder order);
/// "after-reduce" or "rank0-before-reduce".
const char* to_string(BiasPlacement placement);
/// Parses to_string(ReduceOrder) names. \throws std::invalid_argument naming the text and the valid names.
ReduceOrder parse_reduce_order(const std::string& text);
/// Parses to_string(BiasPlacement) names. \throws std::invalid_argument naming the text and the valid names.
BiasPlacement parse_bias_placement(const std::string& text);

/// The all-reduce of `order`: all_reduce_rank_order, all_reduce_ring or all_reduce_tree.
PerRank<Matrix> all_reduce(World& world, const PerRank<Matrix>& in, ReduceOrder order, const std::string& label);

/// Options of a row-parallel layer, named as in Megatron-LM and vLLM.
struct RowParallelOptions {
  /// x arrives split (T, in/p) per rank (after a column-parallel layer); false: x is (T, in) and is split here.
  bool input_is_parallel = true;
  /// All-reduce the partial sums (vLLM's reduce_results); false returns them unreduced.
  bool reduce_results = true;
  /// Leave the bias out of forward(); the caller adds bias() later.
  bool skip_bias_add = false;
  /// Which all-reduce.
  ReduceOrder order = ReduceOrder::RankOrder;
  /// Where the bias is added.
  BiasPlacement bias_placement = BiasPlacement::AfterReduce;
  /// ReduceOrder::Tree only: S, the tree segments of each dot product (a power of two; p and in must be multiples).
  int tree_segments = atp::kDefaultTreeSegments;
  /// Reduce-scatter the sum along the tokens instead of all-reducing it (chapter 12):
  /// forward() returns rank r's rows [r T/p, (r+1) T/p). Needs input_is_parallel and reduce_results.
  bool sequence_parallel = false;
};

/// A linear layer whose weight columns (input features) are split across p ranks.
class RowParallelLinear {
 public:
  /// Shards W (out, in) by input columns: rank r holds W_r = cols [r*in/p, (r+1)*in/p).
  /// The bias (1, out) (or nullptr) is not sharded; it is added exactly once.
  /// \throws std::invalid_argument naming in and p unless p divides in; naming
  ///         the shapes for a bad bias; and for reduce_results = false with a
  ///         bias placed AfterReduce (there would be no reduce to add it after;
  ///         use skip_bias_add or Rank0BeforeReduce). With ReduceOrder::Tree:
  ///         unless S is a power of two dividing in and p divides S, and for a
  ///         bias placed Rank0BeforeReduce (it would enter the tree at a
  ///         p-dependent place). With sequence_parallel: unless
  ///         input_is_parallel and reduce_results, and for ReduceOrder::Ring.
  static RowParallelLinear from_master(const Matrix& W, const Matrix* bias, int p, RowParallelOptions options = {});
  /// Wraps shards read elsewhere (each rank its own columns, chapter 7's
  /// checkpoint reader): weight[r] (out, in/p), the same shape on every rank;
  /// bias (1, out) or nullptr. from_master slices and then calls this.
  /// \throws std::invalid_argument naming the rank and shapes if the shards
  ///         disagree, and as from_master for the bias and options.
  static RowParallelLinear from_shards(PerRank<Matrix> weight, const Matrix* bias, RowParallelOptions options = {});

  /// Tensor-parallel size p.
  int p() const { return weight_.size(); }
  /// in: the input features of the whole layer (p * in/p).
  Eigen::Index in_features() const { return weight_[0].cols() * p(); }
  /// out: the output features (every rank produces all of them).
  Eigen::Index out_features() const { return weight_[0].rows(); }
  /// W_r (out, in/p) per rank.
  const PerRank<Matrix>& weight() const { return weight_; }
  /// b (1, out), or (0, 0) without a bias.
  const Matrix& bias() const { return bias_; }
  /// True if the layer has a bias.
  bool has_bias() const { return bias_.size() > 0; }
  /// The options it was built with.
  const RowParallelOptions& options() const { return options_; }

  /// x: (T, in/p) per rank when input_is_parallel, else (T, in) on every rank,
  /// of which rank r keeps cols [r*in/p, (r+1)*in/p) (Megatron's scatter to the
  /// tensor-parallel region; no communication). Computes partial_sums(), then
  /// one all-reduce (label + ".all_reduce", recorded even for p = 1, where it
  /// is the identity and moves 0 bytes) unless !reduce_results; the bias per
  /// options. Returns (T, out) per rank; with sequence_parallel one
  /// reduce-scatter along rows instead (label + ".reduce_scatter"), (T/p, out).
  /// \throws std::invalid_argument naming the rank and shapes for a bad x.
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, const std::string& label) const;

  /// What enters the all-reduce: y_r = x_r W_r^T per rank (T, out), with the
  /// bias already in rank 0's y_0 under Rank0BeforeReduce; under
  /// ReduceOrder::Tree the root of rank r's subtree (its S/p segments). Records one matmul per rank.
  PerRank<Matrix> partial_sums(World& world, const PerRank<Matrix>& x, const std::string& label) const;

  /// Puts W_r in world.memory() as MemoryKind::Weight "label.weight" on every
  /// rank, and the bias as "label.bias" on every rank (each rank keeps a copy).
  void account_memory(World& world, const std::string& label) const;

 private:
  RowParallelLinear(PerRank<Matrix> weight, Matrix bias, RowParallelOptions options);
  PerRank<Matrix> weight_;
  Matrix bias_;
  RowParallelOptions options_;
  PerRank<std::vector<Matrix>> segments_;  // Tree: W_r cut into its S/p tree segments, once
};

/// y + b, b (1, C) added to every row of y (R, C) with one plain add per
/// element: the bias epilogue of atp::linear, shared with the GPU's after-reduce add.
/// \throws std::invalid_argument naming the shapes unless b is (1, C).
Matrix add_bias_rows(const Matrix& y, const Matrix& b);

}  // namespace atp::sim
