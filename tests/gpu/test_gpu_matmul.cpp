/// \file test_gpu_matmul.cpp
/// \brief The tiled GPU matmul equals the naive GPU kernel and the CPU
///        atp::matmul_nt / atp::linear bit for bit, on shapes that cut every
///        tile edge; and it never pads the k loop (the -0 test).
///
/// Letters: A (M, K), B (N, K), C = A B^T (M, N). Tile sizes of the kernel:
/// 64 x 64 outputs, k-tiles of 16, so the shapes below straddle 16, 64 and
/// leave partial tiles in every dimension. Needs a GPU; skips without one.
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/ops.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"
#include "gpu_test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

namespace {

struct Shape {
  int M, N, K;
};

const std::vector<Shape> kShapes = {{1, 1, 1},   {1, 7, 3},    {3, 1, 5},     {16, 16, 16},  {63, 65, 17},
                                    {64, 64, 16}, {65, 63, 33}, {130, 70, 1},  {5, 5, 0},     {129, 257, 100},
                                    {33, 17, 1000}, {200, 3, 64}, {2, 300, 513}};

std::string name(const Shape& s) {
  return "M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) + " K=" + std::to_string(s.K);
}

}  // namespace

TEST_CASE("tiled matmul_nt == naive kernel == CPU atp::matmul_nt, bitwise, on awkward shapes") {
  if (atp::test::skip_without_gpu()) return;
  for (const Shape& s : kShapes) {
    const atp::Matrix A = atp::random_matrix(s.M, s.K, 11, 1);
    const atp::Matrix B = atp::random_matrix(s.N, s.K, 11, 2);
    const auto dA = atp::cuda::to_device(A);
    const auto dB = atp::cuda::to_device(B);
    const atp::Matrix tiled = atp::cuda::to_host(atp::cuda::matmul_nt(dA, dB, nullptr, atp::cuda::MatmulKernel::Tiled));
    const atp::Matrix naive = atp::cuda::to_host(atp::cuda::matmul_nt(dA, dB, nullptr, atp::cuda::MatmulKernel::Naive));
    const atp::Matrix cpu = atp::matmul_nt(A, B);
    atp::test::require_bitwise(tiled, naive, "tiled vs naive, " + name(s));
    atp::test::require_bitwise(tiled, cpu, "tiled vs CPU, " + name(s));
  }
}

TEST_CASE("linear: bias added after the dot, bitwise equal to atp::linear") {
  if (atp::test::skip_without_gpu()) return;
  for (const Shape& s : kShapes) {
    const atp::Matrix x = atp::random_matrix(s.M, s.K, 12, 1);
    const atp::Matrix W = atp::random_matrix(s.N, s.K, 12, 2, 0.5f);
    const atp::Matrix b = atp::random_matrix(1, s.N, 12, 3);
    const auto dx = atp::cuda::to_device(x);
    const auto dW = atp::cuda::to_device(W);
    const auto db = atp::cuda::to_device(b);
    const atp::Matrix got = atp::cuda::to_host(atp::cuda::linear(dx, dW, &db));
    atp::test::require_bitwise(got, atp::linear(x, W, &b), "linear with bias, " + name(s));
    const atp::Matrix nobias = atp::cuda::to_host(atp::cuda::linear(dx, dW, nullptr));
    atp::test::require_bitwise(nobias, atp::linear(x, W, nullptr), "linear without bias, " + name(s));
  }
}

TEST_CASE("the partial k-tile runs only its valid k: an accumulator of -0 stays -0") {
  if (atp::test::skip_without_gpu()) return;
  // a * b = -1e-60 rounds to -0, and fma(a, b, +0) = -0 + ... = -0 only if
  // nothing else is added: a zero-padded k (fma(0, 0, -0) = +0) would flip
  // the sign bit. The CPU keeps -0, so the GPU must too.
  for (int K : {1, 2, 15, 17, 31}) {
    atp::Matrix A = atp::Matrix::Zero(3, K);
    atp::Matrix B = atp::Matrix::Zero(2, K);
    for (int k = 0; k < K; ++k) {
      A(0, k) = -1e-30f;
      A(1, k) = 1e-30f;
      B(0, k) = 1e-30f;
      B(1, k) = 1e-30f;
    }
    A(2, 0) = -0.0f;
    const atp::Matrix cpu = atp::matmul_nt(A, B);
    REQUIRE(std::signbit(cpu(0, 0)));  // the case really has a -0 to lose
    const auto dA = atp::cuda::to_device(A);
    const auto dB = atp::cuda::to_device(B);
    atp::test::require_bitwise(atp::cuda::to_host(atp::cuda::matmul_nt(dA, dB)), cpu,
                               "signed zeros, K=" + std::to_string(K));
  }
}

TEST_CASE("matmul_nt and linear name the shapes when they do not fit") {
  if (atp::test::skip_without_gpu()) return;
  const atp::cuda::DeviceMatrix A(4, 3), B(5, 2), W(5, 3), bias(1, 4);
  CHECK_THROWS_WITH_AS(atp::cuda::matmul_nt(A, B), doctest::Contains("(4, 3)"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(atp::cuda::linear(A, W, &bias), doctest::Contains("bias is (1, 4); expected (1, 5)"),
                       std::invalid_argument);
  atp::cuda::DeviceMatrix C(4, 4);
  CHECK_THROWS_WITH_AS(atp::cuda::matmul_nt_into(A, W, C), doctest::Contains("C is (4, 4); expected (4, 5)"),
                       std::invalid_argument);
}
