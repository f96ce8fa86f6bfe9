/// \file rows.cu
/// \brief Row kernels, one warp per row, in the 32-lane order: row sum,
///        softmax, LayerNorm, RMSNorm. Each mirrors its CPU twin in
///        atp/numerics.hpp (atp::row_sum_lane32, atp::softmax_row,
///        atp::layernorm_row, atp::rmsnorm_row) step by step.
///
/// Letters: rows = number of rows (tokens), n = row length (features).
///
/// The 32-lane order (NUMERICS.md section 2) is what a warp does naturally:
/// lane l accumulates x[l], x[l+32], x[l+64], ... ascending; then
///
///     for off in 16, 8, 4, 2, 1:  v[l] = v[l] + v[l + off]   (lanes l < off)
///
/// which is `v += __shfl_down_sync(~0u, v, off)`; lane 0 ends with the sum.
/// The CPU runs the same two loops over an array of 32 partials. Max
/// reductions use atp::max_nan, which is commutative and associative, so the
/// butterfly order here and the sequential order there give the same bits.
///
/// Left out: rows longer than fit a warp's patience (no block-wide
/// reduction; a warp handles any n, just serially), vectorised loads, fused
/// residual adds.
#include "atp/cuda/check.hpp"
#include "atp/cuda/kernels.hpp"
#include "atp/numerics.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kWarpsPerBlock = 4;
static_assert(atp::kLanes == 32, "one warp per row needs the 32-lane order");

// atp::lane_tree_sum on registers: lane l < off adds lane l + off's value.
// Lanes >= off compute values nobody reads. Every lane returns lane 0's sum.
__device__ float warp_tree_sum(float v) {
#pragma unroll
  for (int off = atp::kLanes / 2; off >= 1; off /= 2) v = v + __shfl_down_sync(kFullMask, v, off);
  return __shfl_sync(kFullMask, v, 0);
}

// Max over the warp; any combination order gives the same bits with max_nan.
__device__ float warp_max(float v) {
#pragma unroll
  for (int off = atp::kLanes / 2; off >= 1; off /= 2) v = atp::max_nan(v, __shfl_xor_sync(kFullMask, v, off));
  return v;
}

// Lane partial of atp::row_sum_lane32: acc = acc + x[i], i = lane, lane+32, ...
__device__ float lane_sum(const float* x, int n, int lane) {
  float acc = 0.0f;
  for (int i = lane; i < n; i += atp::kLanes) acc = acc + x[i];
  return acc;
}

// Lane partial of atp::row_sum_sq_dev_lane32: d = x[i] - mean; acc = fma(d, d, acc).
__device__ float lane_sum_sq_dev(const float* x, int n, float mean, int lane) {
  float acc = 0.0f;
  for (int i = lane; i < n; i += atp::kLanes) {
    const float d = x[i] - mean;
    acc = atp::fma(d, d, acc);
  }
  return acc;
}

// The warp's row, or -1 if this warp has none (the whole warp leaves together,
// so full-mask shuffles below are always legal).
__device__ int warp_row(int rows) {
  const int row = blockIdx.x * kWarpsPerBlock + static_cast<int>(threadIdx.x) / atp::kLanes;
  return row < rows ? row : -1;
}

__global__ void row_sum_kernel(const float* x, float* out, int rows, int n) {
  const int row = warp_row(rows);
  if (row < 0) return;
  const int lane = threadIdx.x % atp::kLanes;
  const float s = warp_tree_sum(lane_sum(x + static_cast<size_t>(row) * n, n, lane));
  if (lane == 0) out[row] = s;
}

// atp::softmax_row: m = row_max; e = softmax_exp(x, m) stored in y; s = 32-lane sum of e; y = e / s.
__global__ void softmax_rows_kernel(const float* x, float* y, int rows, int n) {
  const int row = warp_row(rows);
  if (row < 0) return;
  const int lane = threadIdx.x % atp::kLanes;
  const float* xr = x + static_cast<size_t>(row) * n;
  float* yr = y + static_cast<size_t>(row) * n;

  float m = -atp::detail::inf();
  for (int i = lane; i < n; i += atp::kLanes) m = atp::max_nan(m, xr[i]);
  m = warp_max(m);

  // Each element is read and written by the same lane only, so y may alias x.
  float acc = 0.0f;
  for (int i = lane; i < n; i += atp::kLanes) {
    const float e = atp::softmax_exp(xr[i], m);
    yr[i] = e;
    acc = acc + e;
  }
  const float s = warp_tree_sum(acc);
  for (int i = lane; i < n; i += atp::kLanes) yr[i] = atp::softmax_epilogue(yr[i], s);
}

// atp::layernorm_row: mean = sum / n; sq = 32-lane fma(d, d); rstd; epilogue.
__global__ void layernorm_rows_kernel(const float* x, const float* gamma, const float* beta, float eps, float* y,
                                      int rows, int n) {
  const int row = warp_row(rows);
  if (row < 0) return;
  const int lane = threadIdx.x % atp::kLanes;
  const float* xr = x + static_cast<size_t>(row) * n;
  float* yr = y + static_cast<size_t>(row) * n;

  const float mean = warp_tree_sum(lane_sum(xr, n, lane)) / static_cast<float>(n);
  const float sq = warp_tree_sum(lane_sum_sq_dev(xr, n, mean, lane));
  const float rstd = atp::layernorm_rstd(sq, n, eps);
  for (int i = lane; i < n; i += atp::kLanes) yr[i] = atp::layernorm_epilogue(xr[i], mean, rstd, gamma[i], beta[i]);
}

// atp::rmsnorm_row: sq = row_sum_sq_dev_lane32(x, n, 0.0f); rstd; epilogue.
__global__ void rmsnorm_rows_kernel(const float* x, const float* gamma, float eps, float* y, int rows, int n) {
  const int row = warp_row(rows);
  if (row < 0) return;
  const int lane = threadIdx.x % atp::kLanes;
  const float* xr = x + static_cast<size_t>(row) * n;
  float* yr = y + static_cast<size_t>(row) * n;

  const float sq = warp_tree_sum(lane_sum_sq_dev(xr, n, 0.0f, lane));
  const float rstd = atp::rmsnorm_rstd(sq, n, eps);
  for (int i = lane; i < n; i += atp::kLanes) yr[i] = atp::rmsnorm_epilogue(xr[i], rstd, gamma[i]);
}

void check_rows(const char* who, int rows, int n, int min_n) {
  if (rows < 0 || n < 0 || (rows > 0 && n < min_n))
    throw std::invalid_argument(std::string(who) + ": rows = " + std::to_string(rows) + ", n = " +
                                std::to_string(n) + "; need rows >= 0 and n >= " + std::to_string(min_n) +
                                " (any n >= 0 when rows = 0)");
}

void check_ptrs(const char* who, bool ok) {
  if (!ok) throw std::invalid_argument(std::string(who) + ": null device pointer for a non-empty operand");
}

dim3 row_grid(int rows) { return dim3(static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock)); }

constexpr int kRowBlock = kWarpsPerBlock * atp::kLanes;

}  // namespace

void launch_row_sum(const float* x, float* out, int rows, int n, cudaStream_t stream) {
  check_rows("launch_row_sum", rows, n, 0);
  if (rows == 0) return;
  check_ptrs("launch_row_sum", out != nullptr && (n == 0 || x != nullptr));
  row_sum_kernel<<<row_grid(rows), kRowBlock, 0, stream>>>(x, out, rows, n);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_softmax_rows(const float* x, float* y, int rows, int n, cudaStream_t stream) {
  check_rows("launch_softmax_rows", rows, n, 1);
  if (rows == 0) return;
  check_ptrs("launch_softmax_rows", x != nullptr && y != nullptr);
  softmax_rows_kernel<<<row_grid(rows), kRowBlock, 0, stream>>>(x, y, rows, n);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_layernorm_rows(const float* x, const float* gamma, const float* beta, float eps, float* y, int rows,
                           int n, cudaStream_t stream) {
  check_rows("launch_layernorm_rows", rows, n, 1);
  if (rows == 0) return;
  check_ptrs("launch_layernorm_rows", x != nullptr && gamma != nullptr && beta != nullptr && y != nullptr);
  layernorm_rows_kernel<<<row_grid(rows), kRowBlock, 0, stream>>>(x, gamma, beta, eps, y, rows, n);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_rmsnorm_rows(const float* x, const float* gamma, float eps, float* y, int rows, int n,
                         cudaStream_t stream) {
  check_rows("launch_rmsnorm_rows", rows, n, 1);
  if (rows == 0) return;
  check_ptrs("launch_rmsnorm_rows", x != nullptr && gamma != nullptr && y != nullptr);
  rmsnorm_rows_kernel<<<row_grid(rows), kRowBlock, 0, stream>>>(x, gamma, eps, y, rows, n);
  ATP_CUDA_CHECK_LAUNCH();
}

}  // namespace atp::cuda
