/// \file rotary_kernels.hpp
/// \brief Rotary embeddings on the GPU: the cos/sin cache built with the
///        shared atp::rope_cos_sin, the per-head rotation with
///        atp::rope_rotate_pair, and a sincos sweep for the device-vs-host test (chapter 7).
///
/// Letters: S = positions, d = head_dim, T = tokens, n = heads of this rank.
/// Each kernel calls the very functions of atp/rotary.hpp that the simulator
/// calls (ATP_HD inline), under the build's --fmad=false and correctly
/// rounded division, so every entry and every rotated element has the CPU's
/// bits. One thread per table entry or per rotated pair; nothing is summed.
/// None synchronises. Includes no Eigen. Leaves out: fusing the rotation
/// into the QKV matmul's epilogue.
#pragma once

#include "atp/rotary.hpp"

#include <cuda_runtime.h>

#include <cstddef>

namespace atp::cuda {

/// cos[pos][i], sin[pos][i] = atp::rope_cos_sin(pos, i, d, theta) for pos < S, i < d/2; (S, d/2) each.
void launch_rope_cos_sin_cache(float* cos, float* sin, int positions, int head_dim, float theta, cudaStream_t stream);

/// y (T, n d) = x rotated per head for positions first..first+T-1 by the
/// (S, d/2) tables (atp::rope_pair picks the pairs). y may alias x.
void launch_rope_rotate(const float* x, float* y, int T, int cols, int head_dim, const float* cos, const float* sin,
                        int first_position, RopeStyle style, cudaStream_t stream);

/// s[i], c[i] = atp::sincos(x[i]) for i < n (the device side of the numerics test).
void launch_sincos(const float* x, float* s, float* c, std::size_t n, cudaStream_t stream);

}  // namespace atp::cuda
