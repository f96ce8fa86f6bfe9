/// \file row_parallel_linear.cpp
/// \brief RowParallelLinear on the simulator: partial sums, one all-reduce, the bias once (chapter 3).
#include "atp/sim/layers/row_parallel_linear.hpp"

#include "atp/matmul_tree.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/layers/sequence_parallel.hpp"
#include "atp/sim/layers/tp_divide.hpp"

#include <stdexcept>
#include <utility>

namespace atp::sim {

const char* to_string(ReduceOrder order) {
  switch (order) {
    case ReduceOrder::Ring: return "ring";
    case ReduceOrder::Tree: return "tree";
    case ReduceOrder::RankOrder: break;
  }
  return "rank-order";
}

const char* to_string(BiasPlacement placement) {
  return placement == BiasPlacement::Rank0BeforeReduce ? "rank0-before-reduce" : "after-reduce";
}

ReduceOrder parse_reduce_order(const std::string& text) {
  if (text == "rank-order") return ReduceOrder::RankOrder;
  if (text == "ring") return ReduceOrder::Ring;
  if (text == "tree") return ReduceOrder::Tree;
  throw std::invalid_argument("reduce order '" + text + "' is not known; valid: rank-order, ring, tree");
}

BiasPlacement parse_bias_placement(const std::string& text) {
  if (text == "after-reduce") return BiasPlacement::AfterReduce;
  if (text == "rank0-before-reduce") return BiasPlacement::Rank0BeforeReduce;
  throw std::invalid_argument("bias placement '" + text + "' is not known; valid: after-reduce, rank0-before-reduce");
}

PerRank<Matrix> all_reduce(World& world, const PerRank<Matrix>& in, ReduceOrder order, const std::string& label) {
  switch (order) {
    case ReduceOrder::Ring: return all_reduce_ring(world, in, label);
    case ReduceOrder::Tree: return all_reduce_tree(world, in, label);
    case ReduceOrder::RankOrder: break;
  }
  return all_reduce_rank_order(world, in, label);
}

Matrix add_bias_rows(const Matrix& y, const Matrix& b) {
  if (b.rows() != 1 || b.cols() != y.cols())
    throw std::invalid_argument("add_bias_rows: bias is " + shape_string(b) + " but y is " + shape_string(y) +
                                "; the bias must be (1, " + std::to_string(y.cols()) + ")");
  Matrix out(y.rows(), y.cols());
  for (Eigen::Index i = 0; i < y.rows(); ++i)
    for (Eigen::Index j = 0; j < y.cols(); ++j) out(i, j) = y(i, j) + b(0, j);
  return out;
}

RowParallelLinear RowParallelLinear::from_master(const Matrix& W, const Matrix* bias, int p,
                                                 RowParallelOptions options) {
  const auto cols = tp_divide(W.cols(), p, "in_features");
  auto w = make_per_rank(p, [&](int r) -> Matrix { return W.middleCols(r * cols, cols); });
  return from_shards(std::move(w), bias, options);
}

RowParallelLinear RowParallelLinear::from_shards(PerRank<Matrix> weight, const Matrix* bias,
                                                 RowParallelOptions options) {
  if (weight.size() < 1)
    throw std::invalid_argument("RowParallelLinear::from_shards: no shards given; need one per rank, p >= 1");
  for (int r = 1; r < weight.size(); ++r)
    if (weight[r].rows() != weight[0].rows() || weight[r].cols() != weight[0].cols())
      throw std::invalid_argument("RowParallelLinear::from_shards: the shard on rank " + std::to_string(r) + " is " +
                                  shape_string(weight[r]) + " but rank 0 holds " + shape_string(weight[0]) +
                                  "; every rank holds (out, in/p)");
  const std::string what =
      "RowParallelLinear " + shape_string(weight[0].rows(), weight[0].cols() * weight.size());
  if (bias != nullptr && (bias->rows() != 1 || bias->cols() != weight[0].rows()))
    throw std::invalid_argument(what + ": bias is " + shape_string(*bias) + " but W has out_features " +
                                std::to_string(weight[0].rows()) + "; the bias must be (1, " +
                                std::to_string(weight[0].rows()) + ")");
  if (bias != nullptr && !options.reduce_results && !options.skip_bias_add &&
      options.bias_placement == BiasPlacement::AfterReduce)
    throw std::invalid_argument(what +
                                ": reduce_results = false with bias_placement after-reduce leaves no reduce "
                                "to add the bias after; set skip_bias_add (add bias() after your own reduce) "
                                "or use rank0-before-reduce");
  if (options.order == ReduceOrder::Tree) {
    atp::tree_split(weight[0].cols() * weight.size(), options.tree_segments, what + ", tree order");
    atp::check_tree_tp(options.tree_segments, weight.size(), what + ", tree order");
    if (bias != nullptr && !options.skip_bias_add && options.bias_placement == BiasPlacement::Rank0BeforeReduce)
      throw std::invalid_argument(what +
                                  ": the tree order adds the bias after the root; rank0-before-reduce would put it "
                                  "into rank 0's subtree, a place that depends on tp; use after-reduce");
  }
  if (options.sequence_parallel) {
    if (!options.input_is_parallel || !options.reduce_results)
      throw std::invalid_argument(what +
                                  ": sequence_parallel needs input_is_parallel and reduce_results (the "
                                  "reduce-scatter is the reduce; Megatron-LM refuses the same combination)");
    if (options.order == ReduceOrder::Ring)
      throw std::invalid_argument(what + ": sequence_parallel reduce-scatters in rank-order or tree order; the ring "
                                         "order has no reduce-scatter form here");
  }
  return RowParallelLinear(std::move(weight), bias ? *bias : Matrix(), options);
}

RowParallelLinear::RowParallelLinear(PerRank<Matrix> weight, Matrix bias, RowParallelOptions options)
    : weight_(std::move(weight)), bias_(std::move(bias)), options_(options), segments_(weight_.size()) {
  // Tree: each rank's columns are S/p whole segments (checked in from_shards); cut them once.
  if (options_.order == ReduceOrder::Tree)
    for (int r = 0; r < weight_.size(); ++r)
      segments_[r] = atp::split_segments(weight_[r], options_.tree_segments / weight_.size());
}

PerRank<Matrix> RowParallelLinear::partial_sums(World& world, const PerRank<Matrix>& x,
                                                const std::string& label) const {
  const std::string what = "RowParallelLinear '" + label + "'";
  if (world.size() != p() || x.size() != p())
    throw std::invalid_argument(what + ": the layer is split across tp " + std::to_string(p()) + " but the world has " +
                                std::to_string(world.size()) + " ranks and x holds " + std::to_string(x.size()) +
                                "; all three must agree");
  const Eigen::Index local_in = weight_[0].cols();
  const Eigen::Index want = options_.input_is_parallel ? local_in : in_features();
  for (int r = 0; r < p(); ++r)
    if (x[r].cols() != want || x[r].rows() != x[0].rows())
      throw std::invalid_argument(what + ": x on rank " + std::to_string(r) + " is " + shape_string(x[r]) +
                                  " but must be (T, " + (options_.input_is_parallel ? "in/p" : "in") + ") = (" +
                                  std::to_string(x[0].rows()) + ", " + std::to_string(want) + ")" +
                                  (options_.input_is_parallel ? " (input_is_parallel)" : "") +
                                  ", the same T on every rank");
  const bool bias_on_rank0 =
      has_bias() && !options_.skip_bias_add && options_.bias_placement == BiasPlacement::Rank0BeforeReduce;
  return make_per_rank(p(), [&](int r) -> Matrix {
    // Scatter to the tensor-parallel region: a rank that holds all of x keeps its own columns.
    const Matrix x_r = options_.input_is_parallel ? x[r] : Matrix(x[r].middleCols(r * local_in, local_in));
    if (options_.order == ReduceOrder::Tree) {
      // The lower levels of the tree: rank r's S/p segments form a complete subtree.
      Matrix y = atp::matmul_nt_tree(x_r, segments_[r]);
      record_matmul(world, r, x_r.rows(), weight_[r].rows(), x_r.cols(), label);
      return y;
    }
    return linear(world, r, x_r, weight_[r], (bias_on_rank0 && r == 0) ? &bias_ : nullptr, label);
  });
}

PerRank<Matrix> RowParallelLinear::forward(World& world, const PerRank<Matrix>& x, const std::string& label) const {
  PerRank<Matrix> partial = partial_sums(world, x, label);
  if (!options_.reduce_results) return partial;
  // Megatron's g: the one collective of the layer (a reduce-scatter under sequence parallelism).
  PerRank<Matrix> y;
  if (options_.sequence_parallel)
    y = reduce_scatter_to_sequence_parallel_region(world, partial, options_.order, label + ".reduce_scatter");
  else
    y = all_reduce(world, partial, options_.order, label + ".all_reduce");
  if (has_bias() && !options_.skip_bias_add && options_.bias_placement == BiasPlacement::AfterReduce)
    for (Matrix& m : y) m = add_bias_rows(m, bias_);
  return y;
}

void RowParallelLinear::account_memory(World& world, const std::string& label) const {
  for (int r = 0; r < p(); ++r) {
    world.memory().hold(r, MemoryKind::Weight, label + ".weight", weight_[r]);
    if (has_bias()) world.memory().hold(r, MemoryKind::Weight, label + ".bias", bias_);
  }
}

}  // namespace atp::sim
