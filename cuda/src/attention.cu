/// \file attention.cu
/// \brief Scale-and-mask of attention scores and a transpose: the elementwise
///        glue between matmul_nt and softmax_rows in per-head attention.
///
/// The scale and the mask come from atp/attention_order.hpp, the same inline
/// functions the CPU calls, so every score has the CPU's bits.
#include "atp/attention_order.hpp"
#include "atp/cuda/attention_kernels.hpp"
#include "atp/cuda/check.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void scale_mask_kernel(float* s, int T, int S, float scale, bool causal, int query_offset) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<long long>(T) * S) return;
  const int t = static_cast<int>(i / S), u = static_cast<int>(i % S);
  s[i] = causal && atp::attention_masked(t, u, query_offset) ? atp::attention_mask_value()
                                                             : atp::attention_score(s[i], scale);
}

__global__ void transpose_kernel(const float* src, float* dst, int rows, int cols) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<long long>(rows) * cols) return;
  const int r = static_cast<int>(i / cols), c = static_cast<int>(i % cols);
  dst[static_cast<long long>(c) * rows + r] = src[i];
}

void check_sizes(const char* what, int a, int b) {
  if (a < 0 || b < 0)
    throw std::invalid_argument(std::string(what) + ": sizes " + std::to_string(a) + " x " + std::to_string(b) +
                                " must be >= 0");
}

unsigned blocks_for(long long n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

}  // namespace

void launch_attention_scale_mask(float* scores, int T, int S, float scale, bool causal, int query_offset,
                                 cudaStream_t stream) {
  check_sizes("launch_attention_scale_mask", T, S);
  const long long n = static_cast<long long>(T) * S;
  if (n == 0) return;
  if (scores == nullptr) throw std::invalid_argument("launch_attention_scale_mask: scores is null");
  scale_mask_kernel<<<blocks_for(n), kThreads, 0, stream>>>(scores, T, S, scale, causal, query_offset);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_transpose(const float* src, float* dst, int rows, int cols, cudaStream_t stream) {
  check_sizes("launch_transpose", rows, cols);
  const long long n = static_cast<long long>(rows) * cols;
  if (n == 0) return;
  if (src == nullptr || dst == nullptr || src == dst)
    throw std::invalid_argument("launch_transpose: src and dst must be distinct, non-null buffers");
  transpose_kernel<<<blocks_for(n), kThreads, 0, stream>>>(src, dst, rows, cols);
  ATP_CUDA_CHECK_LAUNCH();
}

}  // namespace atp::cuda
