/// \file matmul_tree.hpp
/// \brief The tree-ordered matrix product on the GPU, the twin of
///        atp/matmul_tree.hpp: launch_matmul_nt on each K segment, then the
///        tree sum of the partial products in one kernel.
///
/// Letters: A (M, K) on the device, B cut into S segments (N, L), L = K / S.
///
///     A_s     = cols [s L, (s+1) L) of A      cudaMemcpy2DAsync: bits only
///     P_s     = launch_matmul_nt(A_s, B_s)    the canonical fma chain over segment s
///     C (M,N) = launch_tree_sum(P_0..P_{S-1}) the balanced tree, level by level
///
/// The same operations as atp::matmul_nt_tree on the same values, so the same
/// bits (designed to be bitwise equal; verified on a GPU: not yet). Left out:
/// a fused kernel that would keep the S partials in registers (the price of
/// not fusing is S (M, N) partial buffers in memory).
#pragma once

#include "atp/cuda/device_buffer.hpp"
#include "atp/tensor.hpp"

#include <cuda_runtime.h>

#include <vector>

namespace atp::cuda {

/// Uploads the S column segments of host matrix m (atp::split_segments).
/// \throws std::invalid_argument as atp::tree_split.
std::vector<DeviceMatrix> upload_segments(const Matrix& m, int segments, cudaStream_t stream = nullptr);

/// C = A B^T in the tree order over B's segments; runs on `stream` and
/// returns without synchronising. \throws std::invalid_argument naming the
/// shapes unless A (M, S L) and every segment is (N, L), S a power of two.
DeviceMatrix matmul_nt_tree(const DeviceMatrix& A, const std::vector<DeviceMatrix>& B_segments,
                            cudaStream_t stream = nullptr);

}  // namespace atp::cuda
