/// \file replicated_norm.hpp
/// \brief GPU ReplicatedNorm: RMSNorm or LayerNorm whole on this rank, one
///        warp per row in the 32-lane order (chapter 7), the twin of
///        atp/sim/layers/replicated_norm.hpp.
///
/// Every rank holds the whole (1, H) weight (and bias) and normalises the
/// same rows with atp::cuda::rmsnorm_rows / layernorm_rows, whose kernels
/// follow atp::rmsnorm_row / atp::layernorm_row step by step. Leaves out:
/// fused residual + norm.
#pragma once

#include "atp/cuda/device_buffer.hpp"
#include "atp/sim/layers/replicated_norm.hpp"
#include "atp/tensor.hpp"

#include <cuda_runtime.h>

namespace atp::cuda {

using atp::sim::NormKind;

/// A norm whose weight this rank holds whole.
class ReplicatedNorm {
 public:
  /// RMSNorm with weight (1, H). \throws std::invalid_argument unless weight is (1, H), H >= 1.
  static ReplicatedNorm rms(const Matrix& weight, float eps);
  /// LayerNorm with weight and bias (1, H). \throws std::invalid_argument naming the shapes.
  static ReplicatedNorm layer(const Matrix& weight, const Matrix& bias, float eps);

  /// Which norm.
  NormKind kind() const { return kind_; }
  /// H.
  int hidden() const { return weight_.cols(); }

  /// The norm of every row of x (T, H), on `stream` (not synchronised).
  /// \throws std::invalid_argument naming the shapes unless x is (T, H).
  DeviceMatrix forward(const DeviceMatrix& x, cudaStream_t stream) const;

 private:
  ReplicatedNorm(NormKind kind, DeviceMatrix weight, DeviceMatrix bias, float eps)
      : kind_(kind), weight_(std::move(weight)), bias_(std::move(bias)), eps_(eps) {}
  NormKind kind_;
  DeviceMatrix weight_;
  DeviceMatrix bias_;
  float eps_;
};

/// x + y elementwise on `stream` (launch_add: one rounded add per element, as atp::sim::residual_add).
/// \throws std::invalid_argument naming the shapes if they differ.
DeviceMatrix residual_add(const DeviceMatrix& x, const DeviceMatrix& y, cudaStream_t stream);

}  // namespace atp::cuda
