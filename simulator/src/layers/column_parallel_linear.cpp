/// \file column_parallel_linear.cpp
/// \brief ColumnParallelLinear and MergedColumnParallelLinear on the simulator (chapter 2).
#include "atp/sim/layers/column_parallel_linear.hpp"

#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/layers/sequence_parallel.hpp"
#include "atp/sim/layers/tp_divide.hpp"

#include <stdexcept>
#include <utility>

namespace atp::sim {

namespace {

// The bias must be a row vector with one entry per output feature.
void check_bias(const Matrix* bias, Eigen::Index out, const std::string& what) {
  if (bias != nullptr && (bias->rows() != 1 || bias->cols() != out))
    throw std::invalid_argument(what + ": bias is " + shape_string(*bias) + " but W has out_features " +
                                std::to_string(out) + "; the bias must be (1, " + std::to_string(out) + ")");
}

// x must hold one (T, in) per rank, the same T everywhere (the all-gather joins equal shapes).
void check_input(const World& world, const PerRank<Matrix>& x, Eigen::Index in, int p, const std::string& what) {
  if (world.size() != p || x.size() != p)
    throw std::invalid_argument(what + ": the layer is split across tp " + std::to_string(p) + " but the world has " +
                                std::to_string(world.size()) + " ranks and x holds " + std::to_string(x.size()) +
                                "; all three must agree");
  for (int r = 0; r < p; ++r)
    if (x[r].cols() != in || x[r].rows() != x[0].rows())
      throw std::invalid_argument(what + ": x on rank " + std::to_string(r) + " is " + shape_string(x[r]) +
                                  " but must be (T, in_features) = (" + std::to_string(x[0].rows()) + ", " +
                                  std::to_string(in) + "), the same on every rank");
}

}  // namespace

ColumnParallelLinear ColumnParallelLinear::from_master(const Matrix& W, const Matrix* bias, int p,
                                                       ColumnParallelOptions options) {
  const std::string what = "ColumnParallelLinear " + shape_string(W);
  const auto rows = tp_divide(W.rows(), p, "out_features");
  check_bias(bias, W.rows(), what);
  auto w = make_per_rank(p, [&](int r) -> Matrix { return W.middleRows(r * rows, rows); });
  auto b =
      make_per_rank(p, [&](int r) -> Matrix { return bias ? Matrix(bias->middleCols(r * rows, rows)) : Matrix(); });
  return ColumnParallelLinear(std::move(w), std::move(b), options);
}

ColumnParallelLinear ColumnParallelLinear::from_shards(PerRank<Matrix> weight, PerRank<Matrix> bias,
                                                       ColumnParallelOptions options) {
  if (weight.size() < 1 || bias.size() != weight.size())
    throw std::invalid_argument("ColumnParallelLinear::from_shards: " + std::to_string(weight.size()) +
                                " weight shards and " + std::to_string(bias.size()) +
                                " bias shards; need one of each per rank, p >= 1");
  const bool with_bias = bias[0].size() > 0;
  for (int r = 0; r < weight.size(); ++r) {
    if (weight[r].rows() != weight[0].rows() || weight[r].cols() != weight[0].cols())
      throw std::invalid_argument("ColumnParallelLinear::from_shards: weight on rank " + std::to_string(r) + " is " +
                                  shape_string(weight[r]) + " but rank 0 holds " + shape_string(weight[0]));
    const bool ok = with_bias ? (bias[r].rows() == 1 && bias[r].cols() == weight[0].rows()) : bias[r].size() == 0;
    if (!ok)
      throw std::invalid_argument("ColumnParallelLinear::from_shards: bias on rank " + std::to_string(r) + " is " +
                                  shape_string(bias[r]) + "; it must be (1, " + std::to_string(weight[0].rows()) +
                                  ") on every rank, or (0, 0) on every rank");
  }
  return ColumnParallelLinear(std::move(weight), std::move(bias), options);
}

PerRank<Matrix> ColumnParallelLinear::forward(World& world, const PerRank<Matrix>& x, const std::string& label) const {
  check_input(world, x, in_features(), p(), "ColumnParallelLinear '" + label + "'");
  const bool add_bias = has_bias() && !options_.skip_bias_add;
  if (options_.sequence_parallel) {
    // Leaving the sequence-parallel region: every rank needs all T tokens.
    const PerRank<Matrix> full = gather_from_sequence_parallel_region(world, x, label + ".sp_gather");
    PerRank<Matrix> y = linear(world, full, weight_, add_bias ? &bias_ : nullptr, label);
    return options_.gather_output ? all_gather(world, y, Axis::Cols, label + ".gather") : y;
  }
  // f is the identity: each rank multiplies the x it already holds by its own rows of W.
  PerRank<Matrix> y = linear(world, x, weight_, add_bias ? &bias_ : nullptr, label);
  if (!options_.gather_output) return y;
  return all_gather(world, y, Axis::Cols, label + ".gather");
}

void ColumnParallelLinear::account_memory(World& world, const std::string& label) const {
  for (int r = 0; r < p(); ++r) {
    world.memory().hold(r, MemoryKind::Weight, label + ".weight", weight_[r]);
    if (has_bias()) world.memory().hold(r, MemoryKind::Weight, label + ".bias", bias_[r]);
  }
}

MergedColumnParallelLinear MergedColumnParallelLinear::from_masters(const std::vector<Matrix>& Ws,
                                                                    const std::vector<const Matrix*>& biases, int p,
                                                                    ColumnParallelOptions options) {
  if (Ws.empty()) throw std::invalid_argument("MergedColumnParallelLinear: no weights given; need at least one");
  if (!biases.empty() && biases.size() != Ws.size())
    throw std::invalid_argument("MergedColumnParallelLinear: " + std::to_string(Ws.size()) + " weights but " +
                                std::to_string(biases.size()) + " biases; give one bias pointer per weight, or none");
  const bool with_bias = !biases.empty() && biases[0] != nullptr;
  std::vector<Eigen::Index> sizes;
  Eigen::Index local_out = 0;
  for (std::size_t i = 0; i < Ws.size(); ++i) {
    const std::string what = "MergedColumnParallelLinear weight " + std::to_string(i) + " " + shape_string(Ws[i]);
    if (Ws[i].cols() != Ws[0].cols())
      throw std::invalid_argument(what + ": in_features " + std::to_string(Ws[i].cols()) + " differs from weight 0's " +
                                  std::to_string(Ws[0].cols()) + "; merged layers share their input");
    local_out += tp_divide(Ws[i].rows(), p, "weight " + std::to_string(i) + " out_features");
    if (!biases.empty() && (biases[i] != nullptr) != with_bias)
      throw std::invalid_argument(what + ": either every merged weight has a bias or none has");
    check_bias(with_bias ? biases[i] : nullptr, Ws[i].rows(), what);
    sizes.push_back(Ws[i].rows());
  }
  // Rank r stacks its slice of every master: rows [r*out_i/p, (r+1)*out_i/p) of W_i, i ascending.
  auto w = make_per_rank(p, [&](int r) -> Matrix {
    Matrix m(local_out, Ws[0].cols());
    Eigen::Index at = 0;
    for (const Matrix& W : Ws) {
      const Eigen::Index n = W.rows() / p;
      m.middleRows(at, n) = W.middleRows(r * n, n);
      at += n;
    }
    return m;
  });
  auto b = make_per_rank(p, [&](int r) -> Matrix {
    if (!with_bias) return Matrix();
    Matrix m(1, local_out);
    Eigen::Index at = 0;
    for (std::size_t i = 0; i < Ws.size(); ++i) {
      const Eigen::Index n = Ws[i].rows() / p;
      m.middleCols(at, n) = biases[i]->middleCols(r * n, n);
      at += n;
    }
    return m;
  });
  ColumnParallelOptions inner = options;
  inner.gather_output = false;
  return MergedColumnParallelLinear(ColumnParallelLinear::from_shards(std::move(w), std::move(b), inner),
                                    std::move(sizes), options);
}

MergedColumnParallelLinear MergedColumnParallelLinear::from_shards(PerRank<Matrix> weight, PerRank<Matrix> bias,
                                                                   std::vector<Eigen::Index> output_sizes,
                                                                   ColumnParallelOptions options) {
  const int p = weight.size();
  if (output_sizes.empty())
    throw std::invalid_argument("MergedColumnParallelLinear::from_shards: no output sizes given; need one per master");
  Eigen::Index local_out = 0;
  for (std::size_t i = 0; i < output_sizes.size(); ++i)
    local_out += tp_divide(output_sizes[i], p, "weight " + std::to_string(i) + " out_features");
  if (p < 1 || weight[0].rows() != local_out)
    throw std::invalid_argument("MergedColumnParallelLinear::from_shards: rank 0's stacked shard is " +
                                (p < 1 ? std::string("missing") : shape_string(weight[0])) + " but the output sizes "
                                "give " + std::to_string(local_out) + " rows per rank");
  ColumnParallelOptions inner = options;
  inner.gather_output = false;
  return MergedColumnParallelLinear(ColumnParallelLinear::from_shards(std::move(weight), std::move(bias), inner),
                                    std::move(output_sizes), options);
}

PerRank<Matrix> MergedColumnParallelLinear::forward(World& world, const PerRank<Matrix>& x,
                                                    const std::string& label) const {
  PerRank<Matrix> y = layer_.forward(world, x, label);
  if (!options_.gather_output) return y;
  PerRank<Matrix> g = all_gather(world, y, Axis::Cols, label + ".gather");
  // The gather lays ranks side by side; put each master's columns back together: [y_0 | y_1 | ...].
  const Eigen::Index local_out = y[0].cols();
  return make_per_rank(p(), [&](int r) -> Matrix {
    Matrix out(g[r].rows(), g[r].cols());
    Eigen::Index dst = 0, local_at = 0;
    for (Eigen::Index size : output_sizes_) {
      const Eigen::Index n = size / p();
      for (int s = 0; s < p(); ++s) out.middleCols(dst + s * n, n) = g[r].middleCols(s * local_out + local_at, n);
      dst += size;
      local_at += n;
    }
    return out;
  });
}

PerRank<Matrix> MergedColumnParallelLinear::output_part(const PerRank<Matrix>& y, int i) const {
  if (i < 0 || i >= static_cast<int>(output_sizes_.size()))
    throw std::invalid_argument("MergedColumnParallelLinear::output_part: part " + std::to_string(i) +
                                " out of range; valid parts are 0.." + std::to_string(output_sizes_.size() - 1));
  Eigen::Index at = 0;
  for (int j = 0; j < i; ++j) at += output_sizes_[static_cast<std::size_t>(j)] / p();
  const Eigen::Index n = output_sizes_[static_cast<std::size_t>(i)] / p();
  return make_per_rank(y.size(), [&](int r) -> Matrix {
    if (y[r].cols() != layer_.out_features() / p())
      throw std::invalid_argument("MergedColumnParallelLinear::output_part: y on rank " + std::to_string(r) + " is " +
                                  shape_string(y[r]) + "; expected the per-rank output with " +
                                  std::to_string(layer_.out_features() / p()) + " columns");
    return y[r].middleCols(at, n);
  });
}

}  // namespace atp::sim
