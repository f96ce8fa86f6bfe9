/// \file matmul_tree.cpp
/// \brief The tree-ordered product on the GPU: segment copies, one matmul
///        per segment, one tree-sum kernel (matmul_tree.hpp). Host code only.
#include "atp/cuda/matmul_tree.hpp"

#include "atp/cuda/check.hpp"
#include "atp/cuda/kernels.hpp"
#include "atp/cuda/tree_kernels.hpp"
#include "atp/matmul_tree.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {

std::vector<DeviceMatrix> upload_segments(const Matrix& m, int segments, cudaStream_t stream) {
  std::vector<DeviceMatrix> out;
  for (const Matrix& s : atp::split_segments(m, segments)) out.push_back(to_device(s, stream));
  return out;
}

DeviceMatrix matmul_nt_tree(const DeviceMatrix& A, const std::vector<DeviceMatrix>& B_segments, cudaStream_t stream) {
  const int S = static_cast<int>(B_segments.size());
  if (!atp::is_power_of_two(S) || S > atp::kMaxTreeLeaves)
    throw std::invalid_argument("matmul_nt_tree: " + std::to_string(S) + " segments; need a power of two from 1 to " +
                                std::to_string(atp::kMaxTreeLeaves));
  const int N = B_segments[0].rows(), L = B_segments[0].cols();
  for (int s = 0; s < S; ++s)
    if (B_segments[static_cast<std::size_t>(s)].rows() != N || B_segments[static_cast<std::size_t>(s)].cols() != L)
      throw std::invalid_argument("matmul_nt_tree: B segment " + std::to_string(s) + " is " +
                                  B_segments[static_cast<std::size_t>(s)].shape() + " but segment 0 is " +
                                  B_segments[0].shape());
  if (A.cols() != S * L)
    throw std::invalid_argument("matmul_nt_tree: A is " + A.shape() + " but " + std::to_string(S) +
                                " segments of " + std::to_string(L) + " columns need K = " + std::to_string(S * L));
  const int M = A.rows();
  const std::size_t mn = static_cast<std::size_t>(M) * N;
  DeviceMatrix partials(static_cast<std::int64_t>(S) * M, N);  // [S][M][N]
  DeviceMatrix slice(M, L);
  for (int s = 0; s < S; ++s) {
    if (M > 0 && L > 0) {
      const std::size_t width = static_cast<std::size_t>(L) * sizeof(float);
      ATP_CUDA_CHECK(cudaMemcpy2DAsync(slice.data(), width, A.data() + static_cast<std::size_t>(s) * L,
                                       static_cast<std::size_t>(A.cols()) * sizeof(float), width,
                                       static_cast<std::size_t>(M), cudaMemcpyDeviceToDevice, stream));
    }
    launch_matmul_nt(slice.data(), B_segments[static_cast<std::size_t>(s)].data(), nullptr,
                     partials.data() + static_cast<std::size_t>(s) * mn, M, N, L, stream);
  }
  DeviceMatrix C(M, N);
  launch_tree_sum(partials.data(), C.data(), S, mn, stream);
  // The scratch buffers are freed when this returns; cudaFree waits for the device, so they outlive the kernels.
  return C;
}

}  // namespace atp::cuda
