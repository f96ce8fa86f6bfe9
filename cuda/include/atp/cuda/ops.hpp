/// \file ops.hpp
/// \brief The GPU layer operations on DeviceMatrix, named and ordered like
///        their CPU twins: atp::cuda::matmul_nt(A, B) next to
///        atp::matmul_nt(A, B), atp::cuda::softmax_rows next to
///        atp::softmax_row, and so on.
///
/// Shapes follow the book's convention: activations (T, features), weights
/// (out, in), y = x W^T + b. Every function checks shapes first and throws
/// std::invalid_argument naming them and what would be valid, then launches
/// on `stream` without synchronising (download with to_host(d, stream), which
/// waits). The `_into` forms write into an existing output of the right
/// shape; the others allocate it.
///
/// Left out: strided views, in-place variants beyond what the kernels allow,
/// bf16.
#pragma once

#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/kernels.hpp"

#include <cuda_runtime.h>

namespace atp::cuda {

/// C (M, N) = A (M, K) B (N, K)^T, every element the canonical fma chain.
DeviceMatrix matmul_nt(const DeviceMatrix& A, const DeviceMatrix& B, cudaStream_t stream = nullptr,
                       MatmulKernel kernel = MatmulKernel::Tiled);
/// matmul_nt into an existing C of shape (M, N).
void matmul_nt_into(const DeviceMatrix& A, const DeviceMatrix& B, DeviceMatrix& C, cudaStream_t stream = nullptr,
                    MatmulKernel kernel = MatmulKernel::Tiled);

/// y (T, out) = x (T, in) W (out, in)^T (+ bias (1, out), one plain add after the dot), as atp::linear.
DeviceMatrix linear(const DeviceMatrix& x, const DeviceMatrix& W, const DeviceMatrix* bias,
                    cudaStream_t stream = nullptr, MatmulKernel kernel = MatmulKernel::Tiled);
/// linear into an existing y of shape (T, out).
void linear_into(const DeviceMatrix& x, const DeviceMatrix& W, const DeviceMatrix* bias, DeviceMatrix& y,
                 cudaStream_t stream = nullptr, MatmulKernel kernel = MatmulKernel::Tiled);

/// (rows, 1): the 32-lane sum of each row of x (rows, n), as atp::row_sum_lane32.
DeviceMatrix row_sum(const DeviceMatrix& x, cudaStream_t stream = nullptr);

/// Softmax of every row of x (rows, n >= 1), as atp::softmax_row per row.
DeviceMatrix softmax_rows(const DeviceMatrix& x, cudaStream_t stream = nullptr);

/// LayerNorm of every row of x (rows, n >= 1) with gamma, beta (1, n), as atp::layernorm_row.
DeviceMatrix layernorm_rows(const DeviceMatrix& x, const DeviceMatrix& gamma, const DeviceMatrix& beta, float eps,
                            cudaStream_t stream = nullptr);

/// RMSNorm of every row of x (rows, n >= 1) with gamma (1, n), as atp::rmsnorm_row.
DeviceMatrix rmsnorm_rows(const DeviceMatrix& x, const DeviceMatrix& gamma, float eps, cudaStream_t stream = nullptr);

/// y = fn(x) elementwise, same shape as x.
DeviceMatrix elementwise(Elementwise fn, const DeviceMatrix& x, cudaStream_t stream = nullptr);

/// atp::gelu_tanh elementwise.
inline DeviceMatrix gelu_tanh(const DeviceMatrix& x, cudaStream_t stream = nullptr) {
  return elementwise(Elementwise::GeluTanh, x, stream);
}
/// atp::gelu_erf elementwise.
inline DeviceMatrix gelu_erf(const DeviceMatrix& x, cudaStream_t stream = nullptr) {
  return elementwise(Elementwise::GeluErf, x, stream);
}
/// atp::silu elementwise.
inline DeviceMatrix silu(const DeviceMatrix& x, cudaStream_t stream = nullptr) {
  return elementwise(Elementwise::Silu, x, stream);
}

}  // namespace atp::cuda
