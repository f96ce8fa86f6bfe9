/// \file dense_reference.cpp
/// \brief The float64 reference layers: plain Eigen and std:: double math.
#include "atp/dense_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>

namespace atp {
namespace {

void require_row_vector(const MatrixD& v, Eigen::Index cols, const char* what, const char* fn) {
  if (v.rows() != 1 || v.cols() != cols)
    throw std::invalid_argument(std::string(fn) + ": " + what + " must be " + shape_string(1, cols) +
                                ", got " + shape_string(v));
}

void require_eps(double eps, const char* fn) {
  if (!(eps >= 0.0))
    throw std::invalid_argument(std::string(fn) + ": eps must be >= 0, got " + std::to_string(eps));
}

template <class F>
MatrixD map(const MatrixD& x, F f) {
  MatrixD y(x.rows(), x.cols());
  for (Eigen::Index i = 0; i < x.size(); ++i) y.data()[i] = f(x.data()[i]);
  return y;
}

// One element's error, with NaN/inf made loud: returns +inf unless both agree.
double abs_err(float got, double ref) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const double g = got;
  if (std::isnan(g) || std::isnan(ref)) return (std::isnan(g) && std::isnan(ref)) ? 0.0 : kInf;
  if (std::isinf(g) || std::isinf(ref)) return g == ref ? 0.0 : kInf;
  return std::fabs(g - ref);
}

void require_same_shape(const Matrix& got, const MatrixD& ref, const char* fn) {
  if (got.rows() != ref.rows() || got.cols() != ref.cols())
    throw std::invalid_argument(std::string(fn) + ": got is " + shape_string(got) + " but ref is " +
                                shape_string(ref));
}

}  // namespace

MatrixD to_double(const Matrix& m) { return m.cast<double>(); }

MatrixD linear_ref(const MatrixD& x, const MatrixD& W, const MatrixD* bias) {
  if (x.cols() != W.cols())
    throw std::invalid_argument("linear_ref: x " + shape_string(x) + " and W " + shape_string(W) +
                                " need x.cols == W.cols (W is (out, in))");
  MatrixD y = x * W.transpose();
  if (bias != nullptr) {
    require_row_vector(*bias, W.rows(), "bias", "linear_ref");
    y.rowwise() += bias->row(0);
  }
  return y;
}

MatrixD sigmoid_ref(const MatrixD& x) {
  return map(x, [](double v) { return 1.0 / (1.0 + std::exp(-v)); });
}

MatrixD silu_ref(const MatrixD& x) {
  return map(x, [](double v) { return v / (1.0 + std::exp(-v)); });
}

MatrixD gelu_tanh_ref(const MatrixD& x) {
  // 0.5 v (1 + tanh u) == v / (1 + e^(-2u)); the second form does not cancel
  // for negative v (in double, 1 + tanh(u) is exactly 0 once u < -19).
  const double k = std::sqrt(2.0 / std::numbers::pi);
  return map(x, [k](double v) { return v / (1.0 + std::exp(-2.0 * k * (v + 0.044715 * v * v * v))); });
}

MatrixD gelu_erf_ref(const MatrixD& x) {
  // erfc form: no cancellation for negative x, where 1 + erf(x/sqrt2) -> 0.
  return map(x, [](double v) { return 0.5 * v * std::erfc(-v / std::numbers::sqrt2); });
}

MatrixD softmax_rows_ref(const MatrixD& x) {
  MatrixD y(x.rows(), x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const double m = x.row(r).maxCoeff();
    if (m == -std::numeric_limits<double>::infinity()) {  // fully masked: zeros (docs/numerics.md, "NaN")
      y.row(r).setZero();
      continue;
    }
    y.row(r) = (x.row(r).array() - m).exp().matrix();
    y.row(r) /= y.row(r).sum();
  }
  return y;
}

MatrixD layernorm_rows_ref(const MatrixD& x, const MatrixD& gamma, const MatrixD& beta, double eps) {
  require_row_vector(gamma, x.cols(), "gamma", "layernorm_rows_ref");
  require_row_vector(beta, x.cols(), "beta", "layernorm_rows_ref");
  require_eps(eps, "layernorm_rows_ref");
  MatrixD y(x.rows(), x.cols());
  const double n = static_cast<double>(x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const double mean = x.row(r).sum() / n;
    const double var = (x.row(r).array() - mean).square().sum() / n;
    const double rstd = 1.0 / std::sqrt(var + eps);
    y.row(r) = (((x.row(r).array() - mean) * rstd) * gamma.row(0).array() + beta.row(0).array()).matrix();
  }
  return y;
}

MatrixD rmsnorm_rows_ref(const MatrixD& x, const MatrixD& gamma, double eps) {
  require_row_vector(gamma, x.cols(), "gamma", "rmsnorm_rows_ref");
  require_eps(eps, "rmsnorm_rows_ref");
  MatrixD y(x.rows(), x.cols());
  const double n = static_cast<double>(x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const double rstd = 1.0 / std::sqrt(x.row(r).squaredNorm() / n + eps);
    y.row(r) = ((x.row(r).array() * rstd) * gamma.row(0).array()).matrix();
  }
  return y;
}

double max_abs_error(const Matrix& got, const MatrixD& ref) {
  require_same_shape(got, ref, "max_abs_error");
  double m = 0.0;
  for (Eigen::Index i = 0; i < got.size(); ++i) m = std::max(m, abs_err(got.data()[i], ref.data()[i]));
  return m;
}

double max_rel_error(const Matrix& got, const MatrixD& ref, double floor) {
  require_same_shape(got, ref, "max_rel_error");
  if (!(floor > 0.0))
    throw std::invalid_argument("max_rel_error: floor must be > 0, got " + std::to_string(floor));
  double m = 0.0;
  for (Eigen::Index i = 0; i < got.size(); ++i) {
    const double r = ref.data()[i];
    m = std::max(m, abs_err(got.data()[i], r) / std::max(std::fabs(r), floor));
  }
  return m;
}

}  // namespace atp
