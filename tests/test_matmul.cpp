/// \file test_matmul.cpp
/// \brief The blocked CPU matmul gives exactly the naive fma loop's bits.
///
/// Each case compares uint32 bit patterns against a naive triple loop
/// written here, independently of reference/src/matmul_*.cpp, over shapes
/// chosen to hit every edge of the blocking (1x1x1, primes, one more or one
/// less than the 6x16 and 6x64 register tiles, the 256- and 384-deep K blocks
/// and the M blocks, K = 0), for every micro-kernel this machine supports (so the
/// kernels also equal each other), and checks that every kernel the CPU
/// reports in /proc/cpuinfo is among them.
/// Further cases show the comparison can tell orders apart (so equality is
/// not an accident of exact sums) and check the shape-error messages.
/// Left out: threads (test_matmul_threads.cpp), speed
/// (bench/bench_matmul.cpp) and accuracy against float64
/// (test_dense_reference.cpp).
#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"
#include "naive_matmul.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using atp::test::naive_nn;
using atp::test::naive_nt;

using atp::Matrix;
using Index = Eigen::Index;


std::uint32_t bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

// Distance in units in the last place between two finite floats of any sign.
std::int64_t ulp_distance(float a, float b) {
  auto ordered = [](float x) {
    const auto u = static_cast<std::int64_t>(bits(x));
    return (u & 0x80000000) ? 0x80000000 - u : u;  // -0 and +0 both map to 0
  };
  return std::llabs(ordered(a) - ordered(b));
}

// Number of elements whose bit patterns differ; the first one is described in `first`.
Index count_differences(const Matrix& got, const Matrix& want, std::string& first) {
  Index differ = 0;
  for (Index i = 0; i < got.size(); ++i) {
    const float g = got.data()[i], w = want.data()[i];
    if (bits(g) == bits(w)) continue;
    if (differ++ == 0) {
      std::ostringstream os;
      os.precision(9);
      os << "first difference at (" << i / got.cols() << ", " << i % got.cols() << "): got " << g
         << " (0x" << std::hex << bits(g) << "), want " << w << " (0x" << bits(w) << std::dec
         << "), " << ulp_distance(g, w) << " ulp";
      first = os.str();
    }
  }
  return differ;
}

// Fails with the first differing index, both values, the ulp gap and the count.
void require_same_bits(const Matrix& got, const Matrix& want, const std::string& what) {
  INFO(what);
  REQUIRE(got.rows() == want.rows());
  REQUIRE(got.cols() == want.cols());
  std::string first;
  const Index differ = count_differences(got, want, first);
  INFO(first);
  CHECK_MESSAGE(differ == 0, differ << " of " << got.size() << " elements differ");
}

struct Shape {
  Index M, N, K;
};

// Awkward shapes: register tiles are 6 x 16 (portable, AVX2) and 6 x 64
// (AVX-512), K blocks 256 or 384 deep, M blocks 144 or 168 rows, N blocks
// 1024 columns; K < 8 and K % 8 != 0 take the packers' scalar tails.
const std::vector<Shape> kShapes = {
    {1, 1, 1},     {7, 13, 5},     {5, 7, 13},    {6, 16, 1},     {6, 16, 8},   {5, 15, 7},
    {7, 17, 9},    {12, 32, 256},  {13, 33, 257}, {11, 31, 255},  {1, 300, 600}, {300, 1, 600},
    {145, 17, 3},  {3, 4097, 2},   {150, 40, 520}, {65, 129, 257}, {4, 5, 0},    {0, 5, 3},
    {3, 0, 4},     {2, 9, 1},      {37, 41, 43},  {24, 64, 17},   {7, 1025, 260}, {6, 64, 1},
    {6, 64, 16},   {5, 63, 17},    {7, 65, 23},   {12, 128, 384}, {13, 127, 385}, {11, 129, 769},
    {169, 95, 40}, {167, 193, 9},  {43, 2049, 12}};

std::string shape_name(const Shape& s) {
  return "M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) + " K=" + std::to_string(s.K);
}

using atp::detail::MatmulKernel;
using atp::detail::MatmulOptions;

// One thread, so these cases test the kernels and blocking alone.
MatmulOptions one_thread(MatmulKernel kernel) { return {kernel, 1}; }

#if defined(__x86_64__) && defined(__linux__)
// The CPU's feature flags line of /proc/cpuinfo, with a trailing space.
std::string cpu_flags() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("flags", 0) == 0) return line + " ";
  return "";
}
#endif

}  // namespace

TEST_CASE("every kernel the CPU can run is built in and chosen in order of speed") {
  const std::vector<MatmulKernel> kernels = atp::detail::matmul_kernels_supported();
  REQUIRE(!kernels.empty());
  CHECK(kernels.front() == MatmulKernel::portable);
  [[maybe_unused]] const auto has = [&](MatmulKernel k) {
    return std::find(kernels.begin(), kernels.end(), k) != kernels.end();
  };
#if defined(__x86_64__) && defined(__linux__)
  // Read independently of __builtin_cpu_supports: a build that silently lost
  // a kernel (or a dispatch that never picks it) fails here.
  const std::string flags = cpu_flags();
  const bool avx2 = flags.find(" avx2 ") != std::string::npos && flags.find(" fma ") != std::string::npos;
  const bool avx512 = avx2 && flags.find(" avx512f ") != std::string::npos;
  CHECK_MESSAGE(has(MatmulKernel::avx2) == avx2, flags);
  CHECK_MESSAGE(has(MatmulKernel::avx512) == avx512, flags);
#endif
  // With ATP_MATMUL_KERNEL unset, `best` is the last (fastest) one.
  if (std::getenv("ATP_MATMUL_KERNEL") == nullptr)
    CHECK(atp::detail::matmul_kernel_in_use() == kernels.back());
  for (MatmulKernel k : kernels) MESSAGE("kernel: " << atp::detail::matmul_kernel_description(k));
}

TEST_CASE("matmul_nt equals the naive fma loop bit for bit, every kernel") {
  std::uint64_t stream = 0;
  for (const Shape& s : kShapes) {
    const Matrix A = atp::random_matrix(s.M, s.K, 11, stream++);
    const Matrix B = atp::random_matrix(s.N, s.K, 11, stream++);
    const Matrix want = naive_nt(A, B);
    require_same_bits(atp::matmul_nt(A, B), want, "matmul_nt " + shape_name(s));
    for (MatmulKernel k : atp::detail::matmul_kernels_supported())
      require_same_bits(atp::detail::matmul_nt(A, B, one_thread(k)), want,
                        atp::detail::matmul_kernel_name(k) + " matmul_nt " + shape_name(s));
  }
}

TEST_CASE("matmul_nn equals the naive fma loop bit for bit, every kernel") {
  std::uint64_t stream = 100;
  for (const Shape& s : kShapes) {
    const Matrix A = atp::random_matrix(s.M, s.K, 12, stream++);
    const Matrix B = atp::random_matrix(s.K, s.N, 12, stream++);
    const Matrix want = naive_nn(A, B);
    require_same_bits(atp::matmul_nn(A, B), want, "matmul_nn " + shape_name(s));
    for (MatmulKernel k : atp::detail::matmul_kernels_supported())
      require_same_bits(atp::detail::matmul_nn(A, B, one_thread(k)), want,
                        atp::detail::matmul_kernel_name(k) + " matmul_nn " + shape_name(s));
  }
}

TEST_CASE("linear is the naive loop followed by one plain bias add") {
  std::uint64_t stream = 200;
  for (const Shape& s : kShapes) {
    const Matrix x = atp::random_matrix(s.M, s.K, 13, stream++);
    const Matrix W = atp::random_matrix(s.N, s.K, 13, stream++);
    const Matrix b = atp::random_matrix(1, s.N, 13, stream++);
    Matrix want = naive_nt(x, W);
    require_same_bits(atp::linear(x, W, nullptr), want, "linear, no bias, " + shape_name(s));
    for (Index i = 0; i < want.rows(); ++i)
      for (Index j = 0; j < want.cols(); ++j) want(i, j) = want(i, j) + b(0, j);
    require_same_bits(atp::linear(x, W, &b), want, "linear with bias, " + shape_name(s));
  }
}

TEST_CASE("the bitwise comparison can tell other summation orders apart") {
  // If the inputs made every sum exact, any order would pass the cases
  // above. Show that three plausible alternatives give different bits here.
  const Index M = 16, N = 32, K = 300;
  const Matrix A = atp::random_matrix(M, K, 14, 0);
  const Matrix B = atp::random_matrix(N, K, 14, 1);
  const Matrix ours = atp::matmul_nt(A, B);

  Matrix unfused(M, N), reversed(M, N), split(M, N);
  for (Index i = 0; i < M; ++i)
    for (Index j = 0; j < N; ++j) {
      float acc = 0.0f;  // separate multiply and add: two roundings per step
      for (Index k = 0; k < K; ++k) acc = A(i, k) * B(j, k) + acc;
      unfused(i, j) = acc;
      acc = 0.0f;  // k descending
      for (Index k = K; k-- > 0;) acc = std::fma(A(i, k), B(j, k), acc);
      reversed(i, j) = acc;
      float lo = 0.0f, hi = 0.0f;  // split-K: two chains added at the end
      for (Index k = 0; k < K / 2; ++k) lo = std::fma(A(i, k), B(j, k), lo);
      for (Index k = K / 2; k < K; ++k) hi = std::fma(A(i, k), B(j, k), hi);
      split(i, j) = lo + hi;
    }
  std::string first;
  CHECK(count_differences(ours, unfused, first) > 0);
  CHECK(count_differences(ours, reversed, first) > 0);
  CHECK(count_differences(ours, split, first) > 0);

  // And a bias folded into the accumulator's start is not "add it after".
  const Matrix b = atp::random_matrix(1, N, 14, 2);
  Matrix bias_first(M, N);
  for (Index i = 0; i < M; ++i)
    for (Index j = 0; j < N; ++j) {
      float acc = b(0, j);
      for (Index k = 0; k < K; ++k) acc = std::fma(A(i, k), B(j, k), acc);
      bias_first(i, j) = acc;
    }
  CHECK(count_differences(atp::linear(A, B, &b), bias_first, first) > 0);
}

TEST_CASE("the chain starts from +0.0f, so K = 0 and -0 products give +0") {
  // fma(-1, 0, +0) = +0, whereas starting the chain from the first product
  // would give -0: a sign bit the GPU kernel must agree on.
  Matrix A(1, 1), B(1, 1);
  A(0, 0) = -1.0f;
  B(0, 0) = 0.0f;
  CHECK(bits(atp::matmul_nt(A, B)(0, 0)) == 0u);
  CHECK(bits(atp::matmul_nn(A, B)(0, 0)) == 0u);
  // The same in a full register tile of every kernel (not only an edge tile).
  const Matrix A2 = Matrix::Constant(6, 3, -1.0f), B2 = Matrix::Zero(64, 3);
  for (MatmulKernel k : atp::detail::matmul_kernels_supported()) {
    INFO(atp::detail::matmul_kernel_name(k));
    const Matrix C2 = atp::detail::matmul_nt(A2, B2, one_thread(k));
    for (Index i = 0; i < C2.size(); ++i) CHECK(bits(C2.data()[i]) == 0u);
  }

  const Matrix empty_a(7, 0), empty_b(19, 0);
  const Matrix C = atp::matmul_nt(empty_a, empty_b);
  REQUIRE(C.rows() == 7);
  REQUIRE(C.cols() == 19);
  for (Index i = 0; i < C.size(); ++i) CHECK(bits(C.data()[i]) == 0u);
}

namespace {
// The message thrown by f(), or "" if it did not throw invalid_argument.
template <class F>
std::string invalid_argument_message(F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("shape mismatches throw invalid_argument naming both shapes") {
  const Matrix A = atp::random_matrix(3, 4, 15, 0);
  const Matrix B = atp::random_matrix(5, 6, 15, 1);
  std::string msg = invalid_argument_message([&] { (void)atp::matmul_nt(A, B); });
  INFO(msg);
  CHECK(msg.find("matmul_nt") != std::string::npos);
  CHECK(msg.find("(3, 4)") != std::string::npos);
  CHECK(msg.find("(5, 6)") != std::string::npos);
  CHECK(msg.find("4 columns") != std::string::npos);

  msg = invalid_argument_message([&] { (void)atp::matmul_nn(A, B); });
  CHECK(msg.find("matmul_nn") != std::string::npos);
  CHECK(msg.find("(3, 4)") != std::string::npos);
  CHECK(msg.find("(5, 6)") != std::string::npos);
  CHECK(msg.find("4 rows") != std::string::npos);

  msg = invalid_argument_message([&] { (void)atp::linear(A, B, nullptr); });
  CHECK(msg.find("linear") != std::string::npos);
  CHECK(msg.find("(3, 4)") != std::string::npos);
  CHECK(msg.find("(5, 6)") != std::string::npos);

  const Matrix W = atp::random_matrix(5, 4, 15, 2);
  const Matrix wrong_bias = atp::random_matrix(5, 1, 15, 3);
  msg = invalid_argument_message([&] { (void)atp::linear(A, W, &wrong_bias); });
  CHECK(msg.find("(5, 1)") != std::string::npos);
  CHECK(msg.find("(1, 5)") != std::string::npos);
}
