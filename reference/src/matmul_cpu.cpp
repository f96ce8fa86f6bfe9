/// \file matmul_cpu.cpp
/// \brief The public CPU matmul: shape checks, the choice of micro-kernel
/// (run-time dispatch on what the CPU supports, or ATP_MATMUL_KERNEL) and
/// of the thread count (ATP_THREADS), and the linear layer on top.
///
/// The loop nest is in matmul_gemm.cpp (with the argument for why the bits
/// never change), the kernels in matmul_portable.cpp, matmul_avx2.cpp and
/// matmul_avx512.cpp. Left out: caching the environment (each product reads
/// it again, so tests and programs may change it between products).
#include "atp/matmul_cpu.hpp"

#include "matmul_kernels.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

namespace atp {
namespace {

using Index = Eigen::Index;
using detail::MatmulKernel;
using detail::MatmulOptions;

constexpr int kMaxThreads = 1024;

// Below this many multiply-adds per thread, starting a thread costs more than
// it saves. 2^25 fmas take ~0.4 ms on one AVX-512 core; starting a thread on
// the other virtual CPU of the VM where bench/README.md was measured took
// ~0.2 ms (its `thread_start_join` benchmark), and a split product cannot
// finish before its last thread has started.
constexpr Index kMinFmasPerThread = Index{1} << 25;

// "(rows, cols)", built with a stream: GCC 12 at -O3 gives a false
// -Wrestrict warning on the inlined `"(" + std::to_string(...)` chain
// (GCC bug 105651), and this file must compile warning-free.
std::string shape_of(Index rows, Index cols) {
  std::ostringstream os;
  os << '(' << rows << ", " << cols << ')';
  return os.str();
}

std::string shape_of(const Matrix& m) { return shape_of(m.rows(), m.cols()); }

[[noreturn]] void throw_shape(const char* fn, const std::string& what) {
  std::string msg = "atp::";
  msg += fn;
  msg += ": ";
  msg += what;
  throw std::invalid_argument(msg);
}

// The kernel struct behind a name, or nullptr if this build/CPU lacks it.
const cpu_gemm::GemmKernel* kernel_if_supported(MatmulKernel which) {
  switch (which) {
    case MatmulKernel::portable:
      return &cpu_gemm::portable_kernel();
    case MatmulKernel::avx2:
#if ATP_GEMM_X86
      if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return cpu_gemm::avx2_kernel();
#endif
      return nullptr;
    case MatmulKernel::avx512:
#if ATP_GEMM_X86
      if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
          __builtin_cpu_supports("fma"))
        return cpu_gemm::avx512_kernel();
#endif
      return nullptr;
    case MatmulKernel::best:
      break;
  }
  return nullptr;
}

std::string supported_names() {
  std::string names;
  for (MatmulKernel k : detail::matmul_kernels_supported()) {
    if (!names.empty()) names += ", ";
    names += detail::matmul_kernel_name(k);
  }
  return names;
}

// The value of an environment variable, or "" when unset.
std::string env_value(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// "ATP_X='value' is not ...": quotes the value exactly as given.
std::string env_error(const char* name, const std::string& value, const std::string& why) {
  return std::string(name) + "='" + value + "' " + why;
}

const cpu_gemm::GemmKernel& resolve_kernel(MatmulKernel which) {
  if (which == MatmulKernel::best) which = detail::matmul_kernel_in_use();
  const cpu_gemm::GemmKernel* k = kernel_if_supported(which);
  if (k == nullptr)
    throw std::invalid_argument("atp::matmul: the " + detail::matmul_kernel_name(which) +
                                " kernel is not available on this CPU/build; available: " +
                                supported_names());
  return *k;
}

// Logical CPUs this process may run on (its affinity mask), at least 1.
int cores() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

int parts_for(const cpu_gemm::GemmKernel& kn, Index M, Index N, Index K,
              const MatmulOptions& options) {
  if (options.threads < 0)
    throw std::invalid_argument("atp::matmul: MatmulOptions::threads = " +
                                std::to_string(options.threads) +
                                " is negative; use 0 (the default count) or a positive count");
  if (options.threads > 0) return cpu_gemm::gemm_parts(kn, M, N, options.threads);
  const Index fmas = M * N * K;  // no overflow: the three operands fit in memory
  const Index worth = std::max<Index>(1, fmas / kMinFmasPerThread);
  const int threads = static_cast<int>(std::min<Index>(detail::matmul_threads(), worth));
  return cpu_gemm::gemm_parts(kn, M, N, threads);
}

Matrix run(Index M, Index N, Index K, const Matrix& A, const Matrix& B, cpu_gemm::BLayout layout,
           const MatmulOptions& options) {
  const cpu_gemm::GemmKernel& kn = resolve_kernel(options.kernel);
  const int parts = parts_for(kn, M, N, K, options);
  Matrix C(M, N);
  const cpu_gemm::GemmProblem problem{.M = M,
                                      .N = N,
                                      .K = K,
                                      .A = A.data(),
                                      .lda = A.cols(),
                                      .B = B.data(),
                                      .ldb = B.cols(),
                                      .layout = layout,
                                      .C = C.data(),
                                      .ldc = N};
  cpu_gemm::gemm(kn, problem, parts);
  return C;
}

}  // namespace

namespace detail {

Matrix matmul_nt(const Matrix& A, const Matrix& B, const MatmulOptions& options) {
  if (A.cols() != B.cols())
    throw_shape("matmul_nt", "A is (M, K) = " + shape_of(A) + " and B is (N, K) = " +
                                 shape_of(B) + "; B must have " + std::to_string(A.cols()) +
                                 " columns (A's K) to compute A B^T");
  return run(A.rows(), B.rows(), A.cols(), A, B, cpu_gemm::BLayout::nk, options);
}

Matrix matmul_nn(const Matrix& A, const Matrix& B, const MatmulOptions& options) {
  if (A.cols() != B.rows())
    throw_shape("matmul_nn", "A is (M, K) = " + shape_of(A) + " and B is (K, N) = " +
                                 shape_of(B) + "; B must have " + std::to_string(A.cols()) +
                                 " rows (A's K) to compute A B");
  return run(A.rows(), B.cols(), A.cols(), A, B, cpu_gemm::BLayout::kn, options);
}

std::vector<MatmulKernel> matmul_kernels_supported() {
  std::vector<MatmulKernel> kernels;
  for (MatmulKernel k : {MatmulKernel::portable, MatmulKernel::avx2, MatmulKernel::avx512})
    if (kernel_if_supported(k) != nullptr) kernels.push_back(k);
  return kernels;
}

MatmulKernel matmul_kernel_in_use() {
  const std::string v = env_value("ATP_MATMUL_KERNEL");
  if (v.empty()) return matmul_kernels_supported().back();
  for (MatmulKernel k : {MatmulKernel::portable, MatmulKernel::avx2, MatmulKernel::avx512}) {
    if (v != matmul_kernel_name(k)) continue;
    if (kernel_if_supported(k) == nullptr)
      throw std::invalid_argument(env_error("ATP_MATMUL_KERNEL", v,
                                            "is not available on this CPU/build; available: " +
                                                supported_names() + " (or unset it)"));
    return k;
  }
  throw std::invalid_argument(env_error(
      "ATP_MATMUL_KERNEL", v, "is not a kernel name; use portable, avx2 or avx512 (or unset it)"));
}

std::string matmul_kernel_name(MatmulKernel kernel) {
  switch (kernel) {
    case MatmulKernel::portable: return "portable";
    case MatmulKernel::avx2: return "avx2";
    case MatmulKernel::avx512: return "avx512";
    case MatmulKernel::best: break;
  }
  return "best";
}

std::string matmul_kernel_description(MatmulKernel kernel) {
  const cpu_gemm::GemmKernel& kn = resolve_kernel(kernel);
  std::ostringstream os;
  os << kn.name << " (" << kn.isa << ", " << kn.mr << " x " << kn.nr << " tile)";
  return os.str();
}

int matmul_threads() {
  const std::string v = env_value("ATP_THREADS");
  if (v.empty()) return cores();
  // Digits only (no sign, space or suffix), at most 4 of them, 1..kMaxThreads.
  const bool digits = v.size() <= 4 && std::all_of(v.begin(), v.end(), [](char c) {
                        return c >= '0' && c <= '9';
                      });
  const int n = digits ? std::stoi(v) : 0;
  if (n < 1 || n > kMaxThreads)
    throw std::invalid_argument(env_error(
        "ATP_THREADS", v,
        "is not a thread count; use a whole number from 1 to " + std::to_string(kMaxThreads) +
            ", or unset it for one thread per core (" + std::to_string(cores()) + " here)"));
  return n;
}

int matmul_threads_used(Index M, Index N, Index K, const MatmulOptions& options) {
  return parts_for(resolve_kernel(options.kernel), M, N, K, options);
}

}  // namespace detail

Matrix matmul_nt(const Matrix& A, const Matrix& B) { return detail::matmul_nt(A, B, {}); }

Matrix matmul_nn(const Matrix& A, const Matrix& B) { return detail::matmul_nn(A, B, {}); }

Matrix linear(const Matrix& x, const Matrix& W, const Matrix* bias) {
  if (x.cols() != W.cols())
    throw_shape("linear", "x is (T, in) = " + shape_of(x) + " and W is (out, in) = " +
                              shape_of(W) + "; W must have " + std::to_string(x.cols()) +
                              " columns (x's in) to compute x W^T");
  if (bias != nullptr && (bias->rows() != 1 || bias->cols() != W.rows()))
    throw_shape("linear", "bias is " + shape_of(*bias) + " but W is (out, in) = " +
                              shape_of(W) + "; the bias must be (1, out) = " +
                              shape_of(1, W.rows()) + " or nullptr");
  Matrix y = matmul_nt(x, W);
  if (bias != nullptr) {
    // One plain add per element, after the fma chain is complete.
    for (Index t = 0; t < y.rows(); ++t)
      for (Index o = 0; o < y.cols(); ++o) y(t, o) = y(t, o) + (*bias)(0, o);
  }
  return y;
}

}  // namespace atp
