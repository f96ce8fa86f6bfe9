/// \file mlp_kernels.hpp
/// \brief The MLP epilogue kernels: GELU on a rank's intermediate slice, and
///        SwiGLU's silu(gate) * up on a merged [gate | up] slice.
///
/// Letters: T = tokens, n = elements, c = columns of one half (I/p on a rank).
/// Both kernels call the shared atp/activations.hpp functions (atp::gelu,
/// atp::swiglu), which the CPU simulator calls too, so every element has the
/// same bits on both sides. Like kernels.hpp: sizes checked (std::invalid_argument),
/// no launch when empty, launch checked, no synchronisation. No Eigen here.
/// Leaves out: fusing the epilogue into the matmul (a later optimisation
/// that would keep the bits, since the epilogue runs after each dot is complete).
#pragma once

#include "atp/activations.hpp"

#include <cuda_runtime.h>

#include <cstddef>

namespace atp::cuda {

/// y[i] = atp::gelu(form, x[i]) for i < n (x == y is allowed).
void launch_gelu(GeluForm form, const float* x, float* y, std::size_t n, cudaStream_t stream);

/// out (T, c)[t][j] = atp::swiglu(gate_up[t][j], gate_up[t][c + j]) for gate_up (T, 2c) laid out
/// row-major as [gate | up] per row: what a MergedColumnParallelLinear of gate and up gives a rank.
void launch_swiglu(const float* gate_up, float* out, int T, int c, cudaStream_t stream);

}  // namespace atp::cuda
