/// \file mlp.cu
/// \brief The MLP epilogue kernels (mlp_kernels.hpp): GELU and SwiGLU, each
///        element one call of the shared atp::gelu / atp::swiglu.
///
/// One thread per output element in a grid-stride loop; nothing reduces, so
/// the thread layout cannot change a bit. Left out: vectorised loads and
/// fusion with the matmul.
#include "atp/cuda/check.hpp"
#include "atp/cuda/mlp_kernels.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

constexpr int kBlock = 256;
constexpr std::size_t kMaxBlocks = 65536;  // larger inputs loop (grid stride)

unsigned grid_for(std::size_t n) {
  return static_cast<unsigned>(std::min(kMaxBlocks, (n + kBlock - 1) / kBlock));
}

__global__ void gelu_kernel(GeluForm form, const float* x, float* y, std::size_t n) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = atp::gelu(form, x[i]);
}

// Element (t, j) of the output reads gate (t, j) and up (t, c + j) of the same row.
__global__ void swiglu_kernel(const float* __restrict__ gate_up, float* __restrict__ out, int T, int c) {
  const std::size_t n = static_cast<std::size_t>(T) * c;
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t e = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const std::size_t t = e / c, j = e % c;
    const float* row = gate_up + t * (2 * static_cast<std::size_t>(c));
    out[e] = atp::swiglu(row[j], row[c + j]);
  }
}

}  // namespace

void launch_gelu(GeluForm form, const float* x, float* y, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  if (x == nullptr || y == nullptr)
    throw std::invalid_argument("launch_gelu: null device pointer for n = " + std::to_string(n));
  gelu_kernel<<<grid_for(n), kBlock, 0, stream>>>(form, x, y, n);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_swiglu(const float* gate_up, float* out, int T, int c, cudaStream_t stream) {
  if (T < 0 || c < 0)
    throw std::invalid_argument("launch_swiglu: T = " + std::to_string(T) + ", c = " + std::to_string(c) +
                                "; need T >= 0 and c >= 0");
  const std::size_t n = static_cast<std::size_t>(T) * c;
  if (n == 0) return;
  if (gate_up == nullptr || out == nullptr)
    throw std::invalid_argument("launch_swiglu: null device pointer for T = " + std::to_string(T) +
                                ", c = " + std::to_string(c));
  swiglu_kernel<<<grid_for(n), kBlock, 0, stream>>>(gate_up, out, T, c);
  ATP_CUDA_CHECK_LAUNCH();
}

}  // namespace atp::cuda
