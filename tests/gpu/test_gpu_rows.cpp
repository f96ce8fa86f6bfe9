/// \file test_gpu_rows.cpp
/// \brief One-warp-per-row kernels equal their CPU twins bit for bit:
///        row_sum vs atp::row_sum_lane32, softmax_rows vs atp::softmax_row,
///        layernorm_rows vs atp::layernorm_row, rmsnorm_rows vs atp::rmsnorm_row.
///
/// Row lengths straddle the warp width (1, 31, 32, 33, ...) so lanes with
/// no element, one element and many all occur. Needs a GPU; skips without one.
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/ops.hpp"
#include "atp/numerics.hpp"
#include "atp/rng.hpp"
#include "gpu_test_util.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <vector>

namespace {

const std::vector<int> kLengths = {1, 5, 31, 32, 33, 64, 100, 1000, 4097};
constexpr int kRows = 7;

atp::Matrix inputs(int n, std::uint64_t seed) {
  // A common offset makes the mean matter (LayerNorm) and sums round.
  atp::Matrix x = atp::random_matrix(kRows, n, seed, 0, 3.0f);
  x.array() += 0.75f;
  return x;
}

}  // namespace

TEST_CASE("row_sum equals atp::row_sum_lane32 bitwise") {
  if (atp::test::skip_without_gpu()) return;
  for (int n : kLengths) {
    const atp::Matrix x = inputs(n, 21);
    atp::Matrix want(kRows, 1);
    for (int r = 0; r < kRows; ++r) want(r, 0) = atp::row_sum_lane32(x.row(r).data(), n);
    const atp::Matrix got = atp::cuda::to_host(atp::cuda::row_sum(atp::cuda::to_device(x)));
    atp::test::require_bitwise(got, want, "row_sum n=" + std::to_string(n));
  }
}

TEST_CASE("softmax_rows equals atp::softmax_row bitwise, also with masked (-inf) entries and in place") {
  if (atp::test::skip_without_gpu()) return;
  for (int n : kLengths) {
    atp::Matrix x = inputs(n, 22);
    if (n > 2)
      for (int r = 0; r < kRows; ++r) x(r, (r * 7) % n) = -std::numeric_limits<float>::infinity();
    atp::Matrix want(kRows, n);
    for (int r = 0; r < kRows; ++r) atp::softmax_row(x.row(r).data(), want.row(r).data(), n);
    const auto dx = atp::cuda::to_device(x);
    atp::test::require_bitwise(atp::cuda::to_host(atp::cuda::softmax_rows(dx)), want,
                               "softmax n=" + std::to_string(n));
    auto inplace = atp::cuda::to_device(x);
    atp::cuda::launch_softmax_rows(inplace.data(), inplace.data(), kRows, n, nullptr);
    atp::test::require_bitwise(atp::cuda::to_host(inplace), want, "softmax in place n=" + std::to_string(n));
  }
}

TEST_CASE("layernorm_rows equals atp::layernorm_row bitwise") {
  if (atp::test::skip_without_gpu()) return;
  for (int n : kLengths) {
    const atp::Matrix x = inputs(n, 23);
    const atp::Matrix gamma = atp::random_matrix(1, n, 23, 1);
    const atp::Matrix beta = atp::random_matrix(1, n, 23, 2);
    const float eps = 1e-5f;
    atp::Matrix want(kRows, n);
    for (int r = 0; r < kRows; ++r)
      atp::layernorm_row(x.row(r).data(), gamma.data(), beta.data(), eps, want.row(r).data(), n);
    const atp::Matrix got = atp::cuda::to_host(atp::cuda::layernorm_rows(
        atp::cuda::to_device(x), atp::cuda::to_device(gamma), atp::cuda::to_device(beta), eps));
    atp::test::require_bitwise(got, want, "layernorm n=" + std::to_string(n));
  }
}

TEST_CASE("rmsnorm_rows equals atp::rmsnorm_row bitwise") {
  if (atp::test::skip_without_gpu()) return;
  for (int n : kLengths) {
    const atp::Matrix x = inputs(n, 24);
    const atp::Matrix gamma = atp::random_matrix(1, n, 24, 1);
    const float eps = 1e-6f;
    atp::Matrix want(kRows, n);
    for (int r = 0; r < kRows; ++r) atp::rmsnorm_row(x.row(r).data(), gamma.data(), eps, want.row(r).data(), n);
    const atp::Matrix got =
        atp::cuda::to_host(atp::cuda::rmsnorm_rows(atp::cuda::to_device(x), atp::cuda::to_device(gamma), eps));
    atp::test::require_bitwise(got, want, "rmsnorm n=" + std::to_string(n));
  }
}

TEST_CASE("row kernels refuse bad shapes with the shapes in the message") {
  if (atp::test::skip_without_gpu()) return;
  const atp::cuda::DeviceMatrix x(3, 8), gamma(1, 7), beta(1, 8);
  CHECK_THROWS_WITH_AS(atp::cuda::layernorm_rows(x, gamma, beta, 1e-5f), doctest::Contains("gamma is (1, 7)"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(atp::cuda::rmsnorm_rows(x, gamma, 1e-5f), doctest::Contains("expected (1, 8)"),
                       std::invalid_argument);
  const atp::cuda::DeviceMatrix empty_rows(3, 0);
  CHECK_THROWS_AS(atp::cuda::softmax_rows(empty_rows), std::invalid_argument);
}
