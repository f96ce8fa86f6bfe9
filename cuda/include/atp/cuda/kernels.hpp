/// \file kernels.hpp
/// \brief The raw kernel launchers: device pointers, sizes, a stream.
///
/// Letters: M = rows of the output (tokens), N = output columns (features),
/// K = the reduced dimension, n = row length or element count, p = ranks.
///
/// Every kernel follows the canonical orders of NUMERICS.md section 2 and
/// calls the shared header atp/numerics.hpp, so each output element has the
/// same bits as the CPU reference (atp::matmul_nt, atp::softmax_row, ...):
///
/// - matmul: acc = 0; k ascending: acc = fma(a[k], b[k], acc); bias added
///   afterwards with one plain add. Tiled, no split-K, no tensor cores.
/// - row reductions: one warp per row, lane l takes x[l], x[l+32], ...
///   ascending, then the shuffle-down tree off = 16, 8, 4, 2, 1.
/// - rank_order_sum: ((x0 + x1) + x2) + ... + x[p-1] per element.
///
/// Each launcher checks its sizes (std::invalid_argument naming them), skips
/// the launch when there is nothing to do, and checks the launch
/// (ATP_CUDA_CHECK_LAUNCH). It does not synchronise: results are ready once
/// `stream` is. The DeviceMatrix-level API with shape checks is ops.hpp.
///
/// This header includes no Eigen, so .cu files stay quick to compile.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace atp::cuda {

/// Which matmul kernel to run. Both give identical bits; Naive exists to
/// prove that the tiled kernel's tiling leaves every element's order alone.
enum class MatmulKernel {
  Tiled,  ///< shared-memory tiles, 4x4 register micro-tile per thread
  Naive   ///< one thread per output element, a plain atp::dot
};

/// C (M, N) = A (M, K) B (N, K)^T (+ bias (N) broadcast over rows, if not null).
void launch_matmul_nt(const float* A, const float* B, const float* bias, float* C, int M, int N, int K,
                      cudaStream_t stream, MatmulKernel kernel = MatmulKernel::Tiled);

/// out[r] = the 32-lane sum of row r of x (rows, n).
void launch_row_sum(const float* x, float* out, int rows, int n, cudaStream_t stream);

/// y (rows, n) = softmax of each row of x (rows, n), as atp::softmax_row.
void launch_softmax_rows(const float* x, float* y, int rows, int n, cudaStream_t stream);

/// y (rows, n) = LayerNorm of each row of x with gamma (n), beta (n), as atp::layernorm_row.
void launch_layernorm_rows(const float* x, const float* gamma, const float* beta, float eps, float* y, int rows,
                           int n, cudaStream_t stream);

/// y (rows, n) = RMSNorm of each row of x with gamma (n), as atp::rmsnorm_row.
void launch_rmsnorm_rows(const float* x, const float* gamma, float eps, float* y, int rows, int n,
                         cudaStream_t stream);

/// An elementwise function y[i] = f(x[i]).
enum class Elementwise {
  Exp,       ///< atp::exp (bitwise path)
  Tanh,      ///< atp::tanh (bitwise path)
  Erf,       ///< atp::erf (bitwise path)
  Sigmoid,   ///< atp::sigmoid (bitwise path)
  GeluTanh,  ///< atp::gelu_tanh (bitwise path)
  GeluErf,   ///< atp::gelu_erf (bitwise path)
  Silu,      ///< atp::silu (bitwise path)
  CudaExpf,  ///< CUDA's own expf: the contrast of chapter 0, never in a bitwise path
  CudaTanhf, ///< CUDA's own tanhf: the contrast of chapter 0, never in a bitwise path
  CudaErff   ///< CUDA's own erff: the contrast of chapter 0, never in a bitwise path
};

/// The enumerator's name as written above ("Exp", "CudaExpf", ...).
const char* elementwise_name(Elementwise fn);

/// y[i] = fn(x[i]) for i < n (x == y is allowed).
void launch_elementwise(Elementwise fn, const float* x, float* y, std::size_t n, cudaStream_t stream);

/// out[i] = ((x[0][i] + x[1][i]) + x[2][i]) + ... + x[p-1][i] for gathered
/// buffers laid out [p][n]; p = 1 copies x[0]. The summing kernel of the
/// deterministic all-reduce (the same order as atp::sim::rank_order_sum).
void launch_rank_order_sum(const float* gathered, float* out, int p, std::size_t n, cudaStream_t stream);

/// dst[i] = a[i] + b[i] (dst may alias a or b): one ring reduce-scatter step.
void launch_add(const float* a, const float* b, float* dst, std::size_t n, cudaStream_t stream);

/// out[i] = a[i] * b[i] + c[i], written exactly so in the kernel. With the
/// build's --fmad=false it rounds twice (product, then sum); a GPU test
/// proves that by finding inputs where atp::fma(a, b, c) differs.
void launch_mul_add_unfused(const float* a, const float* b, const float* c, float* out, std::size_t n,
                            cudaStream_t stream);

/// Packs the p column blocks of x (R, p*c) into blocks laid out [p][R][c]:
/// blocks[r][i][j] = x[i][r*c + j]. A pure copy: what a column reduce-scatter
/// sends, as contiguous per-rank pieces.
void launch_cols_to_blocks(const float* x, float* blocks, int R, int c, int p, cudaStream_t stream);

/// The inverse of launch_cols_to_blocks: x[i][r*c + j] = blocks[r][i][j],
/// e.g. p gathered (R, c) blocks placed side by side as (R, p*c). A pure copy.
void launch_blocks_to_cols(const float* blocks, float* x, int R, int c, int p, cudaStream_t stream);

}  // namespace atp::cuda
