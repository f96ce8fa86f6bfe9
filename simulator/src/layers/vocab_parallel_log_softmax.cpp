/// \file vocab_parallel_log_softmax.cpp
/// \brief The vocabulary-parallel log-softmax on the simulator, in the
///        ordinary (rank-order) and the tree order (chapter 11).
#include "atp/sim/layers/vocab_parallel_log_softmax.hpp"

#include "atp/log_softmax_order.hpp"
#include "atp/matmul_tree.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace atp::sim {
namespace {

/// Real (non-padding) columns of [begin, begin + count) for a vocabulary of V ids.
int real_columns(std::int64_t begin, std::int64_t count, std::int64_t V) {
  return static_cast<int>(std::clamp<std::int64_t>(V - begin, 0, count));
}

/// Sum of exp(z - m) over the row's columns [begin, begin + count) that are
/// real ids, in the tree order over `segments` equal segments of that range.
float tree_exp_sum(const float* row, std::int64_t first_id, std::int64_t count, std::int64_t V, int segments, float m) {
  const std::int64_t len = count / segments;
  std::vector<float> partial(static_cast<std::size_t>(segments));
  for (int s = 0; s < segments; ++s)
    partial[static_cast<std::size_t>(s)] =
        atp::exp_sum_lane32(row + s * len, real_columns(first_id + s * len, len, V), m);
  return atp::tree_sum(partial.data(), segments);
}

/// (z - m) - log(sum) on a row's real columns, -inf on padding.
void epilogue(const float* z, float* out, std::int64_t first_id, std::int64_t count, std::int64_t V, float m,
              float sum) {
  const float log_sum = atp::log(sum);
  const int real = real_columns(first_id, count, V);
  for (std::int64_t j = 0; j < count; ++j)
    out[j] = j < real ? atp::log_softmax_epilogue(z[j], m, log_sum) : -atp::detail::inf();
}

}  // namespace

Matrix log_softmax_tree(const Matrix& logits, std::int64_t padded_vocab, int segments) {
  const std::int64_t V = logits.cols();
  if (padded_vocab < V || V < 1)
    throw std::invalid_argument("log_softmax_tree: padded vocabulary " + std::to_string(padded_vocab) +
                                " must be >= the " + std::to_string(V) + " real logits per row (and V >= 1)");
  atp::tree_split(padded_vocab, segments, "log_softmax_tree: padded vocabulary");
  Matrix padded = Matrix::Zero(logits.rows(), padded_vocab);  // padding columns are never read
  padded.leftCols(V) = logits;
  Matrix out(logits.rows(), padded_vocab);
  for (Eigen::Index t = 0; t < logits.rows(); ++t) {
    const float* z = padded.row(t).data();
    const float m = atp::row_max(z, static_cast<int>(V));
    epilogue(z, out.row(t).data(), 0, padded_vocab, V, m, tree_exp_sum(z, 0, padded_vocab, V, segments, m));
  }
  return out.leftCols(V);
}

PerRank<Matrix> vocab_parallel_log_softmax(World& world, const PerRank<Matrix>& local_logits, std::int64_t V,
                                           LogSoftmaxOptions options, const std::string& label) {
  const int p = world.size();
  const std::string what = "vocab_parallel_log_softmax '" + label + "'";
  if (local_logits.size() != p)
    throw std::invalid_argument(what + ": logits for " + std::to_string(local_logits.size()) + " ranks, world of " +
                                std::to_string(p));
  const std::int64_t n = vocab_per_rank(V, p);
  for (int r = 0; r < p; ++r)
    if (local_logits[r].cols() != n || local_logits[r].rows() != local_logits[0].rows())
      throw std::invalid_argument(what + ": rank " + std::to_string(r) + " holds " + shape_string(local_logits[r]) +
                                  " logits but V = " + std::to_string(V) + " at tp " + std::to_string(p) +
                                  " gives (T, " + std::to_string(n) + ") per rank, the same T everywhere");
  const bool tree = options.order == ReduceOrder::Tree;
  if (tree) {
    atp::tree_split(n * p, options.tree_segments, what + ": padded vocabulary");
    atp::check_tree_tp(options.tree_segments, p, what);
  } else if (options.order != ReduceOrder::RankOrder) {
    throw std::invalid_argument(what + ": order " + std::string(to_string(options.order)) +
                                " is not offered; use rank-order (ordinary) or tree (the same bits at every tp)");
  }
  const Eigen::Index T = local_logits[0].rows();
  // The maximum: exact, so any p gives the same m.
  const auto local_max = make_per_rank(p, [&](int r) -> Matrix {
    Matrix m(T, 1);
    const int real = real_columns(r * n, n, V);
    for (Eigen::Index t = 0; t < T; ++t) m(t, 0) = atp::row_max(local_logits[r].row(t).data(), real);
    return m;
  });
  const PerRank<Matrix> m = all_reduce_max(world, local_max, label + ".max");
  // Each rank's part of the sum of exponentials: its whole slice, or its S/p segments' subtree.
  const auto local_sum = make_per_rank(p, [&](int r) -> Matrix {
    Matrix e(T, 1);
    for (Eigen::Index t = 0; t < T; ++t) {
      const float* z = local_logits[r].row(t).data();
      e(t, 0) = tree ? tree_exp_sum(z, r * n, n, V, options.tree_segments / p, m[r](t, 0))
                     : atp::exp_sum_lane32(z, real_columns(r * n, n, V), m[r](t, 0));
    }
    return e;
  });
  const PerRank<Matrix> sum = all_reduce(world, local_sum, options.order, label + ".sum");
  return make_per_rank(p, [&](int r) -> Matrix {
    Matrix out(T, n);
    for (Eigen::Index t = 0; t < T; ++t)
      epilogue(local_logits[r].row(t).data(), out.row(t).data(), r * n, n, V, m[r](t, 0), sum[r](t, 0));
    return out;
  });
}

}  // namespace atp::sim
