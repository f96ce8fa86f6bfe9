/// \file matmul_cpu.hpp
/// \brief The deterministic CPU matrix product: fast, single-threaded, and
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
/// used only in ways that leave this order untouched (see matmul_cpu.cpp).
///
/// Left out: threads (one core, so timings are honest and the order is
/// obviously fixed), bf16, strided/batched variants, alpha/beta scaling.
/// Benchmark against Eigen: bench/bench_matmul.cpp (`scripts/bench.sh`).
#pragma once

#include "atp/tensor.hpp"

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
  best,     ///< AVX2+FMA intrinsics when compiled in, otherwise the portable one.
  portable  ///< Plain C++ with std::fma: the same loop nest, the same bits.
};

/// matmul_nt with a chosen micro-kernel; tests use it to prove both kernels
/// give identical bits, so the fallback is checked on AVX2 machines too.
Matrix matmul_nt(const Matrix& A, const Matrix& B, MatmulKernel kernel);

/// matmul_nn with a chosen micro-kernel (see the matmul_nt overload).
Matrix matmul_nn(const Matrix& A, const Matrix& B, MatmulKernel kernel);

/// True when the AVX2+FMA micro-kernel was compiled in.
bool matmul_has_avx2_kernel();

}  // namespace detail

}  // namespace atp
