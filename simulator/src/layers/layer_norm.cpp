/// \file layer_norm.cpp
/// \brief Row-wise LayerNorm on the simulator through the shared atp::layernorm_row.
#include "atp/sim/layers/layer_norm.hpp"

#include "atp/numerics.hpp"

#include <stdexcept>

namespace atp::sim {

Matrix layernorm_rows(const Matrix& x, const Matrix& gamma, const Matrix& beta, float eps) {
  const Eigen::Index n = x.cols();
  if (n < 1 || gamma.rows() != 1 || gamma.cols() != n || beta.rows() != 1 || beta.cols() != n)
    throw std::invalid_argument("layernorm_rows: x is " + shape_string(x) + ", gamma " + shape_string(gamma) +
                                " and beta " + shape_string(beta) + "; gamma and beta must be (1, " +
                                std::to_string(n) + ") and x must have at least one column");
  Matrix y(x.rows(), n);
  for (Eigen::Index r = 0; r < x.rows(); ++r)
    atp::layernorm_row(x.row(r).data(), gamma.data(), beta.data(), eps, y.row(r).data(), static_cast<int>(n));
  return y;
}

PerRank<Matrix> layernorm_rows(const PerRank<Matrix>& x, const Matrix& gamma, const Matrix& beta, float eps) {
  return make_per_rank(x.size(), [&](int r) -> Matrix { return layernorm_rows(x[r], gamma, beta, eps); });
}

}  // namespace atp::sim
