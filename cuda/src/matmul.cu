/// \file matmul.cu
/// \brief C = A B^T (+ bias) on the GPU in the canonical order: a tiled kernel
///        and a naive one that must agree with it, and with atp::matmul_nt, bit
///        for bit.
///
/// Letters: A (M, K), B (N, K), C (M, N), all row-major; bias (N) or null.
///
/// The contract of every output element (NUMERICS.md section 2):
///
///     acc = 0.0f;  for k = 0..K-1 ascending: acc = atp::fma(A[m][k], B[n][k], acc);
///     C[m][n] = bias ? acc + bias[n] : acc;
///
/// Tiling changes where the operands come from (shared memory, registers),
/// never which fmas run in which order. Each k-tile is consumed k ascending,
/// tiles are visited in ascending order, and the last, partial k-tile runs
/// only its valid k: padding with zeros would add fma(0, 0, acc), which turns
/// an accumulator of -0 into +0 and would differ from the CPU. No split-K,
/// no tensor cores (their internal adds have their own order and precision).
///
/// Left out: double buffering, vectorised loads, warp tiling, anything
/// reaching cuBLAS speed; the book measures it against cuBLAS elsewhere.
#include "atp/cuda/check.hpp"
#include "atp/cuda/kernels.hpp"
#include "atp/numerics.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

// Tile of C per block: kBM x kBN; k-tile kBK. 16 x 16 threads, each owning a
// 4 x 4 micro-tile of C strided by 16 (rows ty + 16 i, cols tx + 16 j), so a
// warp's shared-memory reads are broadcasts (A) or 16 consecutive words (B).
constexpr int kBM = 64;
constexpr int kBN = 64;
constexpr int kBK = 16;
constexpr int kThreadsX = 16;
constexpr int kThreadsY = 16;
constexpr int kMicro = 4;
static_assert(kBM == kThreadsY * kMicro && kBN == kThreadsX * kMicro, "micro-tiles must cover the block tile");
static_assert(kBM * kBK == 4 * kThreadsX * kThreadsY, "each thread loads 4 elements of the A tile");

__global__ void matmul_nt_tiled_kernel(const float* __restrict__ A, const float* __restrict__ B,
                                       const float* __restrict__ bias, float* __restrict__ C, int M, int N,
                                       int K) {
  // Stored k-major ([k][m]) so the inner loop reads a row of each tile; +1
  // pads the stride to spread the transposing stores over the banks.
  __shared__ float As[kBK][kBM + 1];
  __shared__ float Bs[kBK][kBN + 1];

  const int tx = threadIdx.x;
  const int ty = threadIdx.y;
  const int tid = ty * kThreadsX + tx;
  const int m0 = blockIdx.y * kBM;
  const int n0 = blockIdx.x * kBN;

  float acc[kMicro][kMicro];
#pragma unroll
  for (int i = 0; i < kMicro; ++i)
#pragma unroll
    for (int j = 0; j < kMicro; ++j) acc[i][j] = 0.0f;

  // Loader mapping: 16 consecutive threads read 16 consecutive k of one row.
  const int load_k = tid % kBK;
  const int load_r = tid / kBK;  // 0..15; rows load_r + 16 q, q = 0..3

  for (int k0 = 0; k0 < K; k0 += kBK) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int r = load_r + 16 * q;
      const int k = k0 + load_k;
      const int m = m0 + r;
      const int n = n0 + r;
      As[load_k][r] = (m < M && k < K) ? A[static_cast<size_t>(m) * K + k] : 0.0f;
      Bs[load_k][r] = (n < N && k < K) ? B[static_cast<size_t>(n) * K + k] : 0.0f;
    }
    __syncthreads();

    // Only the valid k of the last tile: see the file comment on -0.
    const int k_count = min(kBK, K - k0);
    for (int kk = 0; kk < k_count; ++kk) {
      float a[kMicro];
      float b[kMicro];
#pragma unroll
      for (int i = 0; i < kMicro; ++i) a[i] = As[kk][ty + kThreadsY * i];
#pragma unroll
      for (int j = 0; j < kMicro; ++j) b[j] = Bs[kk][tx + kThreadsX * j];
#pragma unroll
      for (int i = 0; i < kMicro; ++i)
#pragma unroll
        for (int j = 0; j < kMicro; ++j) acc[i][j] = atp::fma(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kMicro; ++i) {
    const int m = m0 + ty + kThreadsY * i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < kMicro; ++j) {
      const int n = n0 + tx + kThreadsX * j;
      if (n >= N) continue;
      const float v = acc[i][j];
      C[static_cast<size_t>(m) * N + n] = bias != nullptr ? v + bias[n] : v;
    }
  }
}

// One thread per element: the contract written as plainly as possible.
__global__ void matmul_nt_naive_kernel(const float* __restrict__ A, const float* __restrict__ B,
                                       const float* __restrict__ bias, float* __restrict__ C, int M, int N,
                                       int K) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  const int m = blockIdx.y * blockDim.y + threadIdx.y;
  if (m >= M || n >= N) return;
  const float v = atp::dot(A + static_cast<size_t>(m) * K, B + static_cast<size_t>(n) * K, K);
  C[static_cast<size_t>(m) * N + n] = bias != nullptr ? v + bias[n] : v;
}

constexpr int kMaxGridY = 65535;

}  // namespace

void launch_matmul_nt(const float* A, const float* B, const float* bias, float* C, int M, int N, int K,
                      cudaStream_t stream, MatmulKernel kernel) {
  if (M < 0 || N < 0 || K < 0)
    throw std::invalid_argument("launch_matmul_nt: M = " + std::to_string(M) + ", N = " + std::to_string(N) +
                                ", K = " + std::to_string(K) + "; sizes must be >= 0");
  if (M == 0 || N == 0) return;
  if (C == nullptr || (K > 0 && (A == nullptr || B == nullptr)))
    throw std::invalid_argument("launch_matmul_nt: null device pointer for a non-empty operand");
  if (kernel == MatmulKernel::Tiled) {
    const dim3 block(kThreadsX, kThreadsY);
    const dim3 grid((N + kBN - 1) / kBN, (M + kBM - 1) / kBM);
    if (grid.y > kMaxGridY)
      throw std::invalid_argument("launch_matmul_nt: M = " + std::to_string(M) + " needs " +
                                  std::to_string(grid.y) + " row tiles; the grid allows " +
                                  std::to_string(kMaxGridY));
    matmul_nt_tiled_kernel<<<grid, block, 0, stream>>>(A, B, bias, C, M, N, K);
  } else {
    const dim3 block(32, 8);
    const dim3 grid((N + 31) / 32, (M + 7) / 8);
    if (grid.y > kMaxGridY)
      throw std::invalid_argument("launch_matmul_nt: M = " + std::to_string(M) + " is too large for the naive kernel");
    matmul_nt_naive_kernel<<<grid, block, 0, stream>>>(A, B, bias, C, M, N, K);
  }
  ATP_CUDA_CHECK_LAUNCH();
}

}  // namespace atp::cuda
