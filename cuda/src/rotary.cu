/// \file rotary.cu
/// \brief The rotary kernels: cos/sin cache, per-head rotation, and a sincos sweep,
///        each a direct call of atp/rotary.hpp per thread.
#include "atp/cuda/check.hpp"
#include "atp/cuda/rotary_kernels.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

constexpr int kBlock = 256;

unsigned blocks_for(long long n) { return static_cast<unsigned>((n + kBlock - 1) / kBlock); }

__global__ void cos_sin_cache_kernel(float* cos, float* sin, int positions, int head_dim, float theta) {
  const int half = head_dim / 2;
  const long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= static_cast<long long>(positions) * half) return;
  const int pos = static_cast<int>(e / half), i = static_cast<int>(e % half);
  atp::rope_cos_sin(pos, i, head_dim, theta, &cos[e], &sin[e]);
}

// One thread per (row, head, pair): reads both elements before writing, so y may alias x.
__global__ void rotate_kernel(const float* x, float* y, int T, int cols, int head_dim, const float* cos,
                              const float* sin, int first_position, RopeStyle style) {
  const int half = head_dim / 2, heads = cols / head_dim;
  const long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= static_cast<long long>(T) * heads * half) return;
  const int i = static_cast<int>(e % half);
  const int h = static_cast<int>((e / half) % heads);
  const int t = static_cast<int>(e / (static_cast<long long>(half) * heads));
  int j0 = 0, j1 = 0;
  atp::rope_pair(style, i, head_dim, &j0, &j1);
  const long long row = static_cast<long long>(t) * cols + static_cast<long long>(h) * head_dim;
  const long long table = static_cast<long long>(first_position + t) * half + i;
  const float x0 = x[row + j0], x1 = x[row + j1];
  float y0 = 0.0f, y1 = 0.0f;
  atp::rope_rotate_pair(x0, x1, cos[table], sin[table], &y0, &y1);
  y[row + j0] = y0;
  y[row + j1] = y1;
}

__global__ void sincos_kernel(const float* x, float* s, float* c, std::size_t n) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    atp::sincos(x[i], &s[i], &c[i]);
}

}  // namespace

void launch_rope_cos_sin_cache(float* cos, float* sin, int positions, int head_dim, float theta, cudaStream_t stream) {
  if (positions < 0 || head_dim < 2 || head_dim % 2 != 0)
    throw std::invalid_argument("launch_rope_cos_sin_cache: positions " + std::to_string(positions) + " and head_dim " +
                                std::to_string(head_dim) + " must be >= 0 and even >= 2");
  const long long n = static_cast<long long>(positions) * (head_dim / 2);
  if (n == 0) return;
  cos_sin_cache_kernel<<<blocks_for(n), kBlock, 0, stream>>>(cos, sin, positions, head_dim, theta);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_rope_rotate(const float* x, float* y, int T, int cols, int head_dim, const float* cos, const float* sin,
                        int first_position, RopeStyle style, cudaStream_t stream) {
  if (T < 0 || head_dim < 2 || head_dim % 2 != 0 || cols % head_dim != 0 || first_position < 0)
    throw std::invalid_argument("launch_rope_rotate: T " + std::to_string(T) + ", cols " + std::to_string(cols) +
                                ", head_dim " + std::to_string(head_dim) + ", first position " +
                                std::to_string(first_position) + ": need whole heads of an even head_dim");
  const long long n = static_cast<long long>(T) * (cols / head_dim) * (head_dim / 2);
  if (n == 0) return;
  rotate_kernel<<<blocks_for(n), kBlock, 0, stream>>>(x, y, T, cols, head_dim, cos, sin, first_position, style);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_sincos(const float* x, float* s, float* c, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<std::size_t>(65536, (n + kBlock - 1) / kBlock));
  sincos_kernel<<<blocks, kBlock, 0, stream>>>(x, s, c, n);
  ATP_CUDA_CHECK_LAUNCH();
}

}  // namespace atp::cuda
