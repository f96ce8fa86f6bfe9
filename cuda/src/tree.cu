/// \file tree.cu
/// \brief The kernels of tree_kernels.hpp: the tree sum, the exact maximum,
///        and the three steps of the vocabulary-parallel log-softmax.
///
/// One thread per output element (per element i, or per row t), each calling
/// the shared ATP_HD function the simulator calls. Left out: faster layouts.
#include "atp/cuda/check.hpp"
#include "atp/cuda/tree_kernels.hpp"
#include "atp/log_softmax_order.hpp"
#include "atp/numerics.hpp"
#include "atp/tree_order.hpp"

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

__global__ void tree_sum_kernel(const float* __restrict__ gathered, float* __restrict__ out, int p, std::size_t n) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = atp::tree_sum_strided(gathered + i, static_cast<long long>(n), p);
}

__global__ void max_reduce_kernel(const float* __restrict__ gathered, float* __restrict__ out, int p, std::size_t n) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    float m = gathered[i];
    for (int r = 1; r < p; ++r) m = atp::max_nan(m, gathered[static_cast<std::size_t>(r) * n + i]);
    out[i] = m;
  }
}

__global__ void rows_max_kernel(const float* __restrict__ z, float* __restrict__ m, int T, int c, int real) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t < T) m[t] = atp::row_max(z + static_cast<std::size_t>(t) * c, real);
}

__global__ void rows_exp_tree_sum_kernel(const float* __restrict__ z, const float* __restrict__ m,
                                         float* __restrict__ e, int T, int c, int real, int segments) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= T) return;
  const int len = c / segments;
  const float* row = z + static_cast<std::size_t>(t) * c;
  float v[atp::kMaxTreeLeaves];
  for (int s = 0; s < segments; ++s) {
    // Padding ids sit at the end: segment s holds min(max(real - s len, 0), len) real columns.
    const int n = min(max(real - s * len, 0), len);
    v[s] = atp::exp_sum_lane32(row + s * len, n, m[t]);
  }
  e[t] = atp::tree_sum(v, segments);
}

__global__ void log_softmax_epilogue_kernel(const float* __restrict__ z, const float* __restrict__ m,
                                            const float* __restrict__ sum, float* __restrict__ out, int T, int c,
                                            int real) {
  const std::size_t n = static_cast<std::size_t>(T) * c;
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int t = static_cast<int>(i / c), j = static_cast<int>(i % c);
    out[i] = j < real ? atp::log_softmax_epilogue(z[i], m[t], atp::log(sum[t])) : -atp::detail::inf();
  }
}

void check_ptrs(const char* who, bool ok) {
  if (!ok) throw std::invalid_argument(std::string(who) + ": null device pointer for a non-empty operand");
}

void check_rows(const char* who, int T, int c, int real) {
  if (T < 0 || c < 0 || real < 0 || real > c)
    throw std::invalid_argument(std::string(who) + ": T = " + std::to_string(T) + ", c = " + std::to_string(c) +
                                ", real = " + std::to_string(real) + "; need T, c >= 0 and 0 <= real <= c");
}

unsigned row_blocks(int T) { return static_cast<unsigned>((T + kBlock - 1) / kBlock); }

}  // namespace

void launch_tree_sum(const float* gathered, float* out, int p, std::size_t n, cudaStream_t stream) {
  if (!atp::is_power_of_two(p) || p > atp::kMaxTreeLeaves)
    throw std::invalid_argument("launch_tree_sum: p = " + std::to_string(p) + "; need a power of two from 1 to " +
                                std::to_string(atp::kMaxTreeLeaves));
  if (n == 0) return;
  check_ptrs("launch_tree_sum", gathered != nullptr && out != nullptr);
  tree_sum_kernel<<<grid_for(n), kBlock, 0, stream>>>(gathered, out, p, n);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_max_reduce(const float* gathered, float* out, int p, std::size_t n, cudaStream_t stream) {
  if (p < 1) throw std::invalid_argument("launch_max_reduce: p = " + std::to_string(p) + "; need p >= 1");
  if (n == 0) return;
  check_ptrs("launch_max_reduce", gathered != nullptr && out != nullptr);
  max_reduce_kernel<<<grid_for(n), kBlock, 0, stream>>>(gathered, out, p, n);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_rows_max(const float* z, float* m, int T, int c, int real, cudaStream_t stream) {
  check_rows("launch_rows_max", T, c, real);
  if (T == 0) return;
  check_ptrs("launch_rows_max", m != nullptr && (real == 0 || z != nullptr));
  rows_max_kernel<<<row_blocks(T), kBlock, 0, stream>>>(z, m, T, c, real);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_rows_exp_tree_sum(const float* z, const float* m, float* e, int T, int c, int real, int segments,
                              cudaStream_t stream) {
  check_rows("launch_rows_exp_tree_sum", T, c, real);
  if (!atp::is_power_of_two(segments) || segments > atp::kMaxTreeLeaves || c % segments != 0)
    throw std::invalid_argument("launch_rows_exp_tree_sum: " + std::to_string(segments) + " segments of " +
                                std::to_string(c) + " columns; need a power of two up to " +
                                std::to_string(atp::kMaxTreeLeaves) + " that divides the columns");
  if (T == 0) return;
  check_ptrs("launch_rows_exp_tree_sum", m != nullptr && e != nullptr && (c == 0 || z != nullptr));
  rows_exp_tree_sum_kernel<<<row_blocks(T), kBlock, 0, stream>>>(z, m, e, T, c, real, segments);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_log_softmax_epilogue(const float* z, const float* m, const float* sum, float* out, int T, int c, int real,
                                 cudaStream_t stream) {
  check_rows("launch_log_softmax_epilogue", T, c, real);
  const std::size_t n = static_cast<std::size_t>(T) * c;
  if (n == 0) return;
  check_ptrs("launch_log_softmax_epilogue", z != nullptr && m != nullptr && sum != nullptr && out != nullptr);
  log_softmax_epilogue_kernel<<<grid_for(n), kBlock, 0, stream>>>(z, m, sum, out, T, c, real);
  ATP_CUDA_CHECK_LAUNCH();
}

}  // namespace atp::cuda
