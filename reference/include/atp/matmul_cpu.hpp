/// \file matmul_cpu.hpp
/// \brief The deterministic CPU matrix product: fast, multi-threaded, and
/// bit-identical to the naive triple loop with `std::fma`.
///
/// Letters: M = rows of the output (tokens), N = columns of the output
/// (output features), K = the reduced dimension (input features).
///
/// The contract (NUMERICS.md section 2): every output element is
///
///     acc = 0.0f;
///     for (k = 0; k < K; ++k) acc = fma(a[k], b[k], acc);   // k ascending
///
/// and nothing else: no split-K, no tree, no partial sums added together.
/// The GPU kernels follow the same order, which is why the simulator and the
/// CUDA code can agree bit for bit. Cache blocking, packing and SIMD are
/// used only in ways that leave this order untouched (see matmul_gemm.cpp).
///
/// Speed comes from a micro-kernel per instruction set (AVX-512, AVX2, and
/// a portable one), chosen at run time from what the CPU supports, and from
/// threads that each own whole output tiles. Neither changes a bit: the
/// kernels keep the same chain per element, and one thread computes each
/// element's chain from start to end. Two environment variables:
///
///  - `ATP_THREADS=n` (1 to 1024): threads per product; unset or empty, one
///    per core this process may run on. Small products use fewer.
///  - `ATP_MATMUL_KERNEL=portable|avx2|avx512`: force a kernel (it must be
///    supported here); unset or empty, the fastest supported.
///
/// A bad value of either is an std::invalid_argument naming it, thrown by
/// the first product that reads it (each product reads both).
///
/// Left out: bf16, strided/batched variants, alpha/beta scaling.
/// Benchmark against Eigen: bench/bench_matmul.cpp (`scripts/bench.sh`).
#pragma once

#include "atp/tensor.hpp"

#include <string>
#include <vector>

namespace atp {

/// C = A B^T, the shape of a linear layer: A (M, K), B (N, K) -> C (M, N).
///
/// C(i, j) is the canonical fma chain over A.row(i) and B.row(j), k ascending.
/// K = 0 gives an all-zero (M, N) result; M = 0 or N = 0 an empty one.
/// \throws std::invalid_argument if A.cols() != B.cols(); the message names
///         both shapes and the K that would match.
Matrix matmul_nt(const Matrix& A, const Matrix& B);

/// C = A B: A (M, K), B (K, N) -> C (M, N).
///
/// C(i, j) is the canonical fma chain over A.row(i) and B.col(j), k ascending,
/// so matmul_nn(A, B) has the same bits as matmul_nt(A, B.transpose()).
/// \throws std::invalid_argument if A.cols() != B.rows(); the message names
///         both shapes and the K that would match.
Matrix matmul_nn(const Matrix& A, const Matrix& B);

/// y = x W^T (+ b): the linear layer, x (T, in), W (out, in), bias (1, out)
/// or nullptr, y (T, out).
///
/// The bias is added after the dot product is complete, one plain fp32 add
/// per element: y(t, o) = dot(x.row(t), W.row(o)) + b(0, o). It is never
/// used as the accumulator's starting value, because that would be a
/// different order (and the GPU epilogue adds it afterwards too).
/// \throws std::invalid_argument if x.cols() != W.cols() or the bias is not
///         (1, out); the message names the shapes and what would be valid.
Matrix linear(const Matrix& x, const Matrix& W, const Matrix* bias);

namespace detail {

/// Which micro-kernel the blocked product runs (for tests and benchmarks).
enum class MatmulKernel {
  best,      ///< ATP_MATMUL_KERNEL if set, otherwise the fastest this CPU supports
  portable,  ///< plain C++ with std::fma, 6 x 16 tile: runs anywhere
  avx2,      ///< AVX2 + FMA intrinsics, 6 x 16 tile (12 ymm accumulators)
  avx512     ///< AVX-512F intrinsics, 6 x 64 tile (24 zmm accumulators)
};

/// How to run one product. The defaults are what matmul_nt() does.
struct MatmulOptions {
  MatmulKernel kernel = MatmulKernel::best;  ///< which micro-kernel
  /// 0: ATP_THREADS (or one per core), fewer for small products. n > 0:
  /// exactly n threads, or one per register tile if there are fewer tiles
  /// (tests use this to split even tiny products).
  int threads = 0;
};

/// matmul_nt with chosen options; the bits are the same for every choice.
/// \throws std::invalid_argument for a kernel this CPU or build lacks, a
///         negative thread count, a bad environment variable (see above), or
///         the shape errors of atp::matmul_nt.
Matrix matmul_nt(const Matrix& A, const Matrix& B, const MatmulOptions& options);

/// matmul_nn with chosen options (see the matmul_nt overload).
Matrix matmul_nn(const Matrix& A, const Matrix& B, const MatmulOptions& options);

/// The kernels this build can run on this CPU, portable first, fastest last.
std::vector<MatmulKernel> matmul_kernels_supported();

/// The kernel MatmulKernel::best runs here (ATP_MATMUL_KERNEL applied).
/// \throws std::invalid_argument if ATP_MATMUL_KERNEL is set to a bad value.
MatmulKernel matmul_kernel_in_use();

/// "portable", "avx2", "avx512" (the names ATP_MATMUL_KERNEL takes), or "best".
std::string matmul_kernel_name(MatmulKernel kernel);

/// For people: the kernel's name, instruction set and register tile, e.g.
/// "avx512 (AVX-512F + FMA, 6 x 64 tile)". MatmulKernel::best is resolved
/// first.
std::string matmul_kernel_description(MatmulKernel kernel);

/// The thread count products use by default: ATP_THREADS, or one per core
/// this process may run on.
/// \throws std::invalid_argument if ATP_THREADS is set to a bad value.
int matmul_threads();

/// How many threads an (M, N, K) product with these options runs on (at
/// most one per register tile along the dimension it splits).
int matmul_threads_used(Eigen::Index M, Eigen::Index N, Eigen::Index K,
                        const MatmulOptions& options);

}  // namespace detail

}  // namespace atp
