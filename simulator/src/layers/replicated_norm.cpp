/// \file replicated_norm.cpp
/// \brief ReplicatedNorm on the simulator: the shared row functions, on every rank's copy.
#include "atp/sim/layers/replicated_norm.hpp"

#include "atp/numerics.hpp"

#include <stdexcept>
#include <utility>

namespace atp::sim {
namespace {

void check_copies(const PerRank<Matrix>& m, Eigen::Index H, const char* what) {
  if (m.size() < 1) throw std::invalid_argument(std::string("ReplicatedNorm: no ranks given for the ") + what);
  for (int r = 0; r < m.size(); ++r)
    if (m[r].rows() != 1 || m[r].cols() != H || H < 1)
      throw std::invalid_argument(std::string("ReplicatedNorm: the ") + what + " on rank " + std::to_string(r) +
                                  " is " + shape_string(m[r]) + " but must be (1, " + std::to_string(H) +
                                  "), the same on every rank");
}

}  // namespace

ReplicatedNorm ReplicatedNorm::rms(PerRank<Matrix> weight, float eps) {
  check_copies(weight, weight.size() > 0 ? weight[0].cols() : 0, "weight");
  const int p = weight.size();
  return ReplicatedNorm(NormKind::RMSNorm, std::move(weight), PerRank<Matrix>(p), eps);
}

ReplicatedNorm ReplicatedNorm::layer(PerRank<Matrix> weight, PerRank<Matrix> bias, float eps) {
  const Eigen::Index H = weight.size() > 0 ? weight[0].cols() : 0;
  check_copies(weight, H, "weight");
  check_copies(bias, H, "bias");
  if (bias.size() != weight.size())
    throw std::invalid_argument("ReplicatedNorm: weight copies for " + std::to_string(weight.size()) +
                                " ranks but bias copies for " + std::to_string(bias.size()));
  return ReplicatedNorm(NormKind::LayerNorm, std::move(weight), std::move(bias), eps);
}

Matrix ReplicatedNorm::apply(int rank, const Matrix& x) const {
  if (x.cols() != hidden())
    throw std::invalid_argument("ReplicatedNorm: x is " + shape_string(x) + " but must be (T, " +
                                std::to_string(hidden()) + ")");
  const Matrix& w = weight_[rank];
  Matrix y(x.rows(), x.cols());
  const int n = static_cast<int>(x.cols());
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    if (kind_ == NormKind::RMSNorm)
      atp::rmsnorm_row(x.row(t).data(), w.data(), eps_, y.row(t).data(), n);
    else
      atp::layernorm_row(x.row(t).data(), w.data(), bias_[rank].data(), eps_, y.row(t).data(), n);
  }
  return y;
}

PerRank<Matrix> ReplicatedNorm::forward(World& world, const PerRank<Matrix>& x, const std::string& label) const {
  if (x.size() != p() || world.size() != p())
    throw std::invalid_argument("ReplicatedNorm '" + label + "': weights for " + std::to_string(p()) +
                                " ranks, x for " + std::to_string(x.size()) + ", world of " +
                                std::to_string(world.size()));
  return make_per_rank(p(), [&](int r) -> Matrix { return apply(r, x[r]); });
}

void ReplicatedNorm::account_memory(World& world, const std::string& label) const {
  for (int r = 0; r < p(); ++r) {
    world.memory().hold(r, MemoryKind::Weight, label + ".weight", weight_[r]);
    if (kind_ == NormKind::LayerNorm) world.memory().hold(r, MemoryKind::Weight, label + ".bias", bias_[r]);
  }
}

Matrix residual_add(const Matrix& x, const Matrix& y) {
  if (x.rows() != y.rows() || x.cols() != y.cols())
    throw std::invalid_argument("residual_add: " + shape_string(x) + " + " + shape_string(y) +
                                ": the shapes must be equal");
  Matrix out(x.rows(), x.cols());
  for (Eigen::Index i = 0; i < x.size(); ++i) out.data()[i] = x.data()[i] + y.data()[i];
  return out;
}

}  // namespace atp::sim
