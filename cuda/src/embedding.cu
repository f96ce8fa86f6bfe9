/// \file embedding.cu
/// \brief The chapter 6 kernels (embedding_kernels.hpp): the masked lookup of
///        a vocabulary-parallel embedding and the local argmax pairs.
///
/// The lookup is a copy with a mask, one thread per output element in a
/// grid-stride loop; the argmax scans one row per thread. Neither adds two
/// floats, so both give the CPU's bits whatever the launch shape. Left out:
/// warp-level argmax (a tree of max/min is exact too, but one loop per row
/// is easier to check against the CPU and fast enough for T small).
#include "atp/cuda/check.hpp"
#include "atp/cuda/embedding_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

constexpr int kBlock = 256;
constexpr std::size_t kMaxBlocks = 65536;

unsigned grid_for(std::size_t n) {
  return static_cast<unsigned>(std::min(kMaxBlocks, (n + kBlock - 1) / kBlock));
}

__global__ void vocab_embedding_lookup_kernel(const float* __restrict__ shard, int n, int H,
                                              const std::int64_t* __restrict__ ids, int T, std::int64_t start,
                                              std::int64_t end, std::int64_t V, float* __restrict__ out,
                                              int* bad_position) {
  const std::size_t total = static_cast<std::size_t>(T) * H;
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t e = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int t = static_cast<int>(e / H);
    const std::size_t h = e % H;
    const std::int64_t id = ids[t];
    float v = -0.0f;
    if (id < 0 || id >= V) {
      atomicMin(bad_position, t);  // reported by the host; nothing is read
    } else if (id >= start && id < end) {
      const std::int64_t local = id - start;
      if (local < n)
        v = shard[static_cast<std::size_t>(local) * H + h];
      else
        atomicMin(bad_position, t);  // a range wider than the shard: a caller bug, never a stray read
    }
    out[e] = v;
  }
}

__global__ void local_argmax_pairs_kernel(const float* __restrict__ logits, int T, int ld, int valid,
                                          std::int64_t start, std::int64_t V, float* __restrict__ pairs) {
  const int t = static_cast<int>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= T) return;
  const float* row = logits + static_cast<std::size_t>(t) * ld;
  float best = -INFINITY;
  std::int64_t id = V;
  for (int j = 0; j < valid; ++j)
    if (id == V || row[j] > best) {
      best = row[j];
      id = start + j;
    }
  pairs[2 * static_cast<std::size_t>(t)] = best;
  pairs[2 * static_cast<std::size_t>(t) + 1] = static_cast<float>(id);
}

}  // namespace

void launch_vocab_embedding_lookup(const float* shard, int n, int H, const std::int64_t* ids, int T,
                                   std::int64_t start, std::int64_t end, std::int64_t V, float* out,
                                   int* bad_position, cudaStream_t stream) {
  if (n < 0 || H < 0 || T < 0 || V < 1 || start < 0 || end < start || end - start > n || end > V)
    throw std::invalid_argument("launch_vocab_embedding_lookup: n = " + std::to_string(n) + ", H = " +
                                std::to_string(H) + ", T = " + std::to_string(T) + ", range [" +
                                std::to_string(start) + ", " + std::to_string(end) + "), V = " + std::to_string(V) +
                                "; need sizes >= 0, V >= 1 and 0 <= start <= end <= V with end - start <= n");
  const std::size_t total = static_cast<std::size_t>(T) * static_cast<std::size_t>(H);
  if (total == 0) return;
  if (ids == nullptr || out == nullptr || bad_position == nullptr || (n > 0 && shard == nullptr))
    throw std::invalid_argument("launch_vocab_embedding_lookup: null device pointer for T = " + std::to_string(T) +
                                ", H = " + std::to_string(H));
  vocab_embedding_lookup_kernel<<<grid_for(total), kBlock, 0, stream>>>(shard, n, H, ids, T, start, end, V, out,
                                                                         bad_position);
  ATP_CUDA_CHECK_LAUNCH();
}

void launch_local_argmax_pairs(const float* logits, int T, int ld, int valid, std::int64_t start, std::int64_t V,
                               float* pairs, cudaStream_t stream) {
  if (T < 0 || valid < 0 || valid > ld || start < 0 || V < 1)
    throw std::invalid_argument("launch_local_argmax_pairs: T = " + std::to_string(T) + ", ld = " +
                                std::to_string(ld) + ", valid = " + std::to_string(valid) + ", start = " +
                                std::to_string(start) + ", V = " + std::to_string(V) +
                                "; need T >= 0, 0 <= valid <= ld, start >= 0, V >= 1");
  if (T == 0) return;
  if (pairs == nullptr || (valid > 0 && logits == nullptr))
    throw std::invalid_argument("launch_local_argmax_pairs: null device pointer for T = " + std::to_string(T));
  local_argmax_pairs_kernel<<<static_cast<unsigned>((T + kBlock - 1) / kBlock), kBlock, 0, stream>>>(
      logits, T, ld, valid, start, V, pairs);
  ATP_CUDA_CHECK_LAUNCH();
}

}  // namespace atp::cuda
