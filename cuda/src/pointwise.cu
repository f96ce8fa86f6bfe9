/// \file pointwise.cu
/// \brief Elementwise kernels: the shared activations (atp::exp, atp::gelu_erf,
///        ...), CUDA's own expf/tanhf/erff for chapter 0's contrast, the
///        unfused a*b+c that proves --fmad=false, the
///        rank-order sum and add kernels of the all-reduces, and the column
///        packing copies of the column collectives.
///
/// One thread per element in a grid-stride loop. Nothing here reduces
/// except launch_rank_order_sum, whose order is spelled out in its loop.
/// Left out: vectorised (float4) loads, fusing several ops in one pass.
#include "atp/cuda/check.hpp"
#include "atp/cuda/kernels.hpp"
#include "atp/numerics.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

constexpr int kBlock = 256;
// Enough blocks to fill any current GPU several times; larger inputs loop.
constexpr std::size_t kMaxBlocks = 65536;

unsigned grid_for(std::size_t n) {
  return static_cast<unsigned>(std::min(kMaxBlocks, (n + kBlock - 1) / kBlock));
}

__device__ float apply(Elementwise fn, float x) {
  switch (fn) {
    case Elementwise::Exp: return atp::exp(x);
    case Elementwise::Tanh: return atp::tanh(x);
    case Elementwise::Erf: return atp::erf(x);
    case Elementwise::Sigmoid: return atp::sigmoid(x);
    case Elementwise::GeluTanh: return atp::gelu_tanh(x);
    case Elementwise::GeluErf: return atp::gelu_erf(x);
    case Elementwise::Silu: return atp::silu(x);
    // The contrast: CUDA's libdevice functions (expf has up to 2 ulp error),
    // which differ from glibc and from atp::exp in the last bits.
    case Elementwise::CudaExpf: return ::expf(x);
    case Elementwise::CudaTanhf: return ::tanhf(x);
    case Elementwise::CudaErff: return ::erff(x);
  }
  return x;
}

__global__ void elementwise_kernel(Elementwise fn, const float* x, float* y, std::size_t n) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = apply(fn, x[i]);
}

// out[i] = ((g[0][i] + g[1][i]) + g[2][i]) + ...: the accumulator starts at
// rank 0's value itself, not at 0 (0 + -0 would give +0).
__global__ void rank_order_sum_kernel(const float* __restrict__ gathered, float* __restrict__ out, int p,
                                      std::size_t n) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    float acc = gathered[i];
    for (int r = 1; r < p; ++r) acc = acc + gathered[static_cast<std::size_t>(r) * n + i];
    out[i] = acc;
  }
}

__global__ void add_kernel(const float* a, const float* b, float* dst, std::size_t n) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] = a[i] + b[i];
}

// Deliberately `a * b + c`: nvcc would contract it into one fma without
// --fmad=false, which is what the test of this kernel detects.
__global__ void mul_add_unfused_kernel(const float* a, const float* b, const float* c, float* out, std::size_t n) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = a[i] * b[i] + c[i];
}

// Element e of the packed layout [p][R][c] <-> x[i][r*c + j] of (R, p*c).
__global__ void cols_blocks_kernel(const float* __restrict__ src, float* __restrict__ dst, int R, int c, int p,
                                   bool to_blocks) {
  const std::size_t n = static_cast<std::size_t>(p) * R * c;
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t e = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const std::size_t j = e % c;
    const std::size_t i = (e / c) % R;
    const std::size_t r = e / (static_cast<std::size_t>(c) * R);
    const std::size_t xi = i * (static_cast<std::size_t>(p) * c) + r * c + j;
    if (to_blocks)
      dst[e] = src[xi];
    else
      dst[xi] = src[e];
  }
}

void check_ptrs(const char* who, bool ok) {
  if (!ok) throw std::invalid_argument(std::string(who) + ": null device pointer for a non-empty operand");
}

void launch_cols_blocks(const char* who, const float* src, float* dst, int R, int c, int p, bool to_blocks,
                        cudaStream_t stream) {
  if (R < 0 || c < 0 || p < 1)
    throw std::invalid_argument(std::string(who) + ": R = " + std::to_string(R) + ", c = " + std::to_string(c) +
                                ", p = " + std::to_string(p) + "; need R >= 0, c >= 0, p >= 1");
  const std::size_t n = static_cast<std::size_t>(p) * R * c;
  if (n == 0) return;
  check_ptrs(who, src != nullptr && dst != nullptr);
  cols_blocks_kernel<<<grid_for(n), kBlock, 0, stream>>>(src, dst, R, c, p, to_blocks);
  ATP_CUDA_CHECK_LAUNCH();
}

}  // namespace

const char* elementwise_name(Elementwise fn) {
  switch (fn) {
    case Elementwise::Exp: return "Exp";
    case Elementwise::Tanh: return "Tanh";
    case Elementwise::Erf: return "Erf";
    case Elementwise::Sigmoid: return "Sigmoid";
    case Elementwise::GeluTanh: return "GeluTanh";
    case Elementwise::GeluErf: return "GeluErf";
    case Elementwise::Silu: return "Silu";
    case Elementwise::CudaExpf: return "CudaExpf";
    case Elementwise::CudaTanhf: return "CudaTanhf";
    case Elementwise::CudaErff: return "CudaErff";
  }
  return "?";
}

void launch_elementwise(Elementwise fn, const float* x, float* y, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  check_ptrs("launch_elementwise", x != nullptr && y != nullptr);
  elementwise_kernel<<<grid_for(n), kBlock, 0, stream>>>(fn, x, y, n);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_rank_order_sum(const float* gathered, float* out, int p, std::size_t n, cudaStream_t stream) {
  if (p < 1) throw std::invalid_argument("launch_rank_order_sum: p = " + std::to_string(p) + "; need p >= 1");
  if (n == 0) return;
  check_ptrs("launch_rank_order_sum", gathered != nullptr && out != nullptr);
  rank_order_sum_kernel<<<grid_for(n), kBlock, 0, stream>>>(gathered, out, p, n);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_add(const float* a, const float* b, float* dst, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  check_ptrs("launch_add", a != nullptr && b != nullptr && dst != nullptr);
  add_kernel<<<grid_for(n), kBlock, 0, stream>>>(a, b, dst, n);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_mul_add_unfused(const float* a, const float* b, const float* c, float* out, std::size_t n,
                            cudaStream_t stream) {
  if (n == 0) return;
  check_ptrs("launch_mul_add_unfused", a != nullptr && b != nullptr && c != nullptr && out != nullptr);
  mul_add_unfused_kernel<<<grid_for(n), kBlock, 0, stream>>>(a, b, c, out, n);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_cols_to_blocks(const float* x, float* blocks, int R, int c, int p, cudaStream_t stream) {
  launch_cols_blocks("launch_cols_to_blocks", x, blocks, R, c, p, true, stream);
}

void launch_blocks_to_cols(const float* blocks, float* x, int R, int c, int p, cudaStream_t stream) {
  launch_cols_blocks("launch_blocks_to_cols", blocks, x, R, c, p, false, stream);
}

}  // namespace atp::cuda
