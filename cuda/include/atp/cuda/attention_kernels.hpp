/// \file attention_kernels.hpp
/// \brief The two small kernels attention needs besides matmul and softmax:
///        scale-and-mask of a score matrix, and a transpose (chapter 5).
///
/// Letters: T = query rows, S = key columns, d = head_dim.
/// launch_attention_scale_mask applies, per element, exactly what the CPU's
/// atp::sim::attention_scores does after its matmul_nt (attention_order.hpp):
/// score = attention_score(dot, scale), or attention_mask_value() when causal
/// and s > t + query_offset (chapter 7's decode steps: query row t is key
/// position t + query_offset). launch_transpose copies bits only. Neither synchronises.
/// Includes no Eigen. Left out: fused flash-style kernels (they reorder the
/// softmax sum and would break the bitwise contract).
#pragma once

#include <cuda_runtime.h>

namespace atp::cuda {

/// In place on scores (T, S): s = attention_score(s, scale), or -inf where causal and col > row + query_offset.
void launch_attention_scale_mask(float* scores, int T, int S, float scale, bool causal, int query_offset,
                                 cudaStream_t stream);

/// dst (cols, rows) = src (rows, cols)^T. A pure copy (dst must not alias src).
void launch_transpose(const float* src, float* dst, int rows, int cols, cudaStream_t stream);

}  // namespace atp::cuda
