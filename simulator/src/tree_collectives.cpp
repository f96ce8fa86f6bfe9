/// \file tree_collectives.cpp
/// \brief The collectives of the tree order (chapter 11): the tree all-reduce
///        by recursive doubling, the tree reduce-scatter, and the max all-reduce.
#include "atp/matmul_tree.hpp"
#include "atp/numerics.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/tree_order.hpp"

#include "collective_record.hpp"

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace atp::sim {
namespace {

using detail::check_rank_count;
using detail::check_same_shapes;
using detail::elements;
using detail::kFloatBytes;
using detail::RankCost;
using detail::record;
using detail::say;
using detail::where;

void check_power_of_two(int p, const char* op, const std::string& label) {
  if (!atp::is_power_of_two(p) || p > atp::kMaxTreeLeaves)
    throw std::invalid_argument(where(op, label) + ": p = " + std::to_string(p) +
                                " ranks; the tree order pairs ranks level by level, so p must be a power of two "
                                "(valid: " + atp::valid_tree_tp_list(atp::kMaxTreeLeaves) + ")");
}

}  // namespace

Matrix tree_order_sum(const PerRank<Matrix>& x) {
  if (x.size() < 1) throw std::invalid_argument("tree_order_sum: no ranks (p = 0); pass one matrix per rank");
  check_same_shapes(x, "tree_order_sum", "");
  check_power_of_two(x.size(), "tree_order_sum", "");
  return atp::tree_sum(x.values());
}

PerRank<Matrix> all_reduce_tree(World& world, const PerRank<Matrix>& in, const std::string& label) {
  const char* op = ops::kAllReduceTree;
  check_rank_count(world, in, op, label);
  check_same_shapes(in, op, label);
  const int p = world.size();
  check_power_of_two(p, op, label);
  const std::int64_t n = elements(in[0]);
  PerRank<Matrix> buf = in;  // each rank's running partial
  std::vector<RankCost> cost(static_cast<std::size_t>(p));
  say(world, where(op, label) + ": " + std::to_string(atp::log2_exact(p)) +
                 " exchange steps (the upper levels of the tree), " + std::to_string(n) + " elements each");
  for (int width = 1; width < p; width *= 2) {
    // All ranks swap at once: take every partner's partial before anyone adds.
    const PerRank<Matrix> before = buf;
    for (int r = 0; r < p; ++r) {
      const int partner = r ^ width;
      const int lower = r < partner ? r : partner, upper = r < partner ? partner : r;
      // The lower rank block's partial first: both partners compute the same operation.
      buf[r] = before[lower] + before[upper];
      cost[static_cast<std::size_t>(r)].sent += kFloatBytes * n;
      cost[static_cast<std::size_t>(r)].received += kFloatBytes * n;
      cost[static_cast<std::size_t>(r)].flops += n;
    }
    say(world, "  level " + std::to_string(atp::log2_exact(width) + 1) + ": rank r swaps with rank r XOR " +
                   std::to_string(width) + " and adds (ranks [k, k+" + std::to_string(width) + ") + [k+" +
                   std::to_string(width) + ", k+" + std::to_string(2 * width) + "))");
  }
  record(world, op, label, in, buf, cost);
  return buf;
}

PerRank<Matrix> reduce_scatter_tree(World& world, const PerRank<Matrix>& in, Axis axis, const std::string& label) {
  const char* op = ops::kReduceScatterTree;
  check_rank_count(world, in, op, label);
  check_same_shapes(in, op, label);
  const int p = world.size();
  check_power_of_two(p, op, label);
  const Eigen::Index dim = axis == Axis::Rows ? in[0].rows() : in[0].cols();
  const auto block = divide(dim, p, where(op, label) + ": " + axis_name(axis) + " of " + shape_string(in[0]));
  // Rank j receives block j of every rank (pure copies) and sums the p blocks
  // in the tree order: the same bits as block j of all_reduce_tree.
  const Matrix sum = tree_order_sum(in);
  PerRank<Matrix> out = make_per_rank(p, [&](int r) -> Matrix {
    return axis == Axis::Rows ? Matrix(sum.middleRows(r * block, block)) : Matrix(sum.middleCols(r * block, block));
  });
  const std::int64_t n_block = elements(in[0]) / p;
  std::vector<RankCost> cost(static_cast<std::size_t>(p), {kFloatBytes * n_block * (p - 1),
                                                           kFloatBytes * n_block * (p - 1), n_block * (p - 1)});
  say(world, where(op, label) + ": tree-order sum of " + std::to_string(p) + " x " + shape_string(in[0]) +
                 ", rank r keeps block r of the " + axis_name(axis) + " -> " + shape_string(out[0]));
  record(world, op, label, in, out, cost);
  return out;
}

PerRank<Matrix> all_reduce_max(World& world, const PerRank<Matrix>& in, const std::string& label) {
  const char* op = ops::kAllReduceMax;
  check_rank_count(world, in, op, label);
  check_same_shapes(in, op, label);
  const int p = world.size();
  Matrix m = in[0];
  for (int r = 1; r < p; ++r)
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = atp::max_nan(m.data()[i], in[r].data()[i]);
  PerRank<Matrix> out = replicate(m, p);
  const std::int64_t n = elements(in[0]);
  std::vector<RankCost> cost(static_cast<std::size_t>(p),
                             {kFloatBytes * n * (p - 1), kFloatBytes * n * (p - 1), n * (p - 1)});
  say(world, where(op, label) + ": all-gather " + shape_string(in[0]) +
                 " and take the maximum (exact: any order, any p gives the same bits)");
  record(world, op, label, in, out, cost);
  return out;
}

}  // namespace atp::sim
