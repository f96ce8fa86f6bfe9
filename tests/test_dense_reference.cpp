/// \file test_dense_reference.cpp
/// \brief Hand-computed checks of the float64 reference layers.
///
/// Every expected value below was worked out by hand (small integers and
/// halves, chosen so the arithmetic is exact), so the reference is checked
/// against arithmetic, not against itself.
#include "atp/dense_reference.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace {

atp::MatrixD md(int rows, int cols, std::initializer_list<double> v) {
  atp::MatrixD m(rows, cols);
  auto it = v.begin();
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) m(i, j) = *it++;
  return m;
}

}  // namespace

TEST_CASE("linear_ref: y = x W^T + b on a 2x3 example") {
  const atp::MatrixD x = md(2, 3, {1, 2, 3, 4, 5, 6});
  const atp::MatrixD W = md(2, 3, {1, 0, -1, 0.5, 0.5, 0.5});  // (out=2, in=3)
  const atp::MatrixD b = md(1, 2, {10, -1});
  // row 0: [1-3, 0.5*(1+2+3)] = [-2, 3]; row 1: [4-6, 0.5*15] = [-2, 7.5]
  const atp::MatrixD y = atp::linear_ref(x, W, &b);
  CHECK(y == md(2, 2, {8, 2, 8, 6.5}));
  CHECK(atp::linear_ref(x, W, nullptr) == md(2, 2, {-2, 3, -2, 7.5}));
  CHECK_THROWS_AS(atp::linear_ref(x, md(2, 2, {1, 2, 3, 4}), nullptr), std::invalid_argument);
  const atp::MatrixD bad_bias = md(1, 3, {1, 2, 3});
  CHECK_THROWS_AS(atp::linear_ref(x, W, &bad_bias), std::invalid_argument);
}

TEST_CASE("softmax_rows_ref on a 2x3 example") {
  // Row 0: equal entries -> 1/3 each. Row 1: [0, ln 2, ln 3] -> [1, 2, 3] / 6.
  const atp::MatrixD x = md(2, 3, {5, 5, 5, 0, std::log(2.0), std::log(3.0)});
  const atp::MatrixD y = atp::softmax_rows_ref(x);
  CHECK(y(0, 0) == doctest::Approx(1.0 / 3).epsilon(1e-15));
  CHECK(y(1, 0) == doctest::Approx(1.0 / 6).epsilon(1e-15));
  CHECK(y(1, 1) == doctest::Approx(2.0 / 6).epsilon(1e-15));
  CHECK(y(1, 2) == doctest::Approx(3.0 / 6).epsilon(1e-15));
  // Large inputs do not overflow (the max is subtracted).
  CHECK(atp::softmax_rows_ref(md(1, 2, {1000, 1000}))(0, 1) == 0.5);
}

TEST_CASE("layernorm_rows_ref and rmsnorm_rows_ref on hand examples") {
  // Row [1, 2, 3, 4]: mean 2.5, biased var (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25.
  const atp::MatrixD x = md(1, 4, {1, 2, 3, 4});
  const atp::MatrixD g = md(1, 4, {1, 1, 2, 1}), b = md(1, 4, {0, 0, 0, 1});
  const atp::MatrixD y = atp::layernorm_rows_ref(x, g, b, 0.0);
  const double s = 1.0 / std::sqrt(1.25);
  CHECK(y(0, 0) == doctest::Approx(-1.5 * s).epsilon(1e-15));
  CHECK(y(0, 2) == doctest::Approx(2 * 0.5 * s).epsilon(1e-15));
  CHECK(y(0, 3) == doctest::Approx(1.5 * s + 1).epsilon(1e-15));
  // eps enters under the root: var 1.25 + eps 2.75 = 4 -> rstd 0.5.
  CHECK(atp::layernorm_rows_ref(x, g, b, 2.75)(0, 0) == doctest::Approx(-0.75).epsilon(1e-15));
  // RMSNorm of [3, 4] (mean square 12.5) with eps 3.5: rstd = 1/4.
  const atp::MatrixD r = atp::rmsnorm_rows_ref(md(1, 2, {3, 4}), md(1, 2, {2, 1}), 3.5);
  CHECK(r(0, 0) == 1.5);
  CHECK(r(0, 1) == 1.0);
  CHECK_THROWS_AS(atp::layernorm_rows_ref(x, md(1, 3, {1, 1, 1}), b, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(atp::rmsnorm_rows_ref(x, g, -1.0), std::invalid_argument);
}

TEST_CASE("activation references at hand-checked points") {
  const atp::MatrixD x = md(1, 3, {0, 2, -2});
  const atp::MatrixD sg = atp::sigmoid_ref(x);
  CHECK(sg(0, 0) == 0.5);
  CHECK(sg(0, 1) + sg(0, 2) == doctest::Approx(1.0).epsilon(1e-15));  // sigmoid(-x) = 1 - sigmoid(x)
  CHECK(atp::silu_ref(x)(0, 1) == doctest::Approx(2 * sg(0, 1)).epsilon(1e-15));
  // gelu_erf(x) - gelu_erf(-x) = x (since erf is odd), and gelu_erf(1) = 0.5 (1 + erf(1/sqrt2)).
  const atp::MatrixD ge = atp::gelu_erf_ref(x);
  CHECK(ge(0, 1) - ge(0, 2) == doctest::Approx(2.0).epsilon(1e-15));
  CHECK(atp::gelu_erf_ref(md(1, 1, {1}))(0, 0) == doctest::Approx(0.8413447460685429).epsilon(1e-14));
  // gelu_tanh: same odd-part identity, and the textbook value at 1.
  const atp::MatrixD gt = atp::gelu_tanh_ref(x);
  CHECK(gt(0, 0) == 0.0);
  CHECK(gt(0, 1) - gt(0, 2) == doctest::Approx(2.0).epsilon(1e-15));
  const double u = std::sqrt(2.0 / 3.141592653589793) * 1.044715;
  CHECK(atp::gelu_tanh_ref(md(1, 1, {1}))(0, 0) == doctest::Approx(0.5 * (1 + std::tanh(u))).epsilon(1e-14));
}

TEST_CASE("max_abs_error and max_rel_error") {
  atp::Matrix got(1, 3);
  got << 1.0f, 2.5f, -4.0f;
  const atp::MatrixD ref = md(1, 3, {1.0, 2.0, -3.0});
  CHECK(atp::max_abs_error(got, ref) == 1.0);
  CHECK(atp::max_rel_error(got, ref) == doctest::Approx(1.0 / 3).epsilon(1e-15));  // 1/3 beats 0.5/2
  got(0, 0) = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isinf(atp::max_abs_error(got, ref)));
  CHECK_THROWS_AS(atp::max_abs_error(atp::Matrix(2, 3), ref), std::invalid_argument);
}
