/// \file rotary_embedding.hpp
/// \brief GPU RotaryEmbedding: the cos/sin cache built on the device with the
///        shared atp::rope_cos_sin, and the rotation of this rank's heads
///        (chapter 7), the twin of atp/sim/layers/rotary_embedding.hpp.
///
/// The cache is computed by a kernel, not uploaded from the host, so the GPU
/// really evaluates atp/rotary.hpp: tests/gpu compares its bits with the
/// simulator's table. apply() rotates every head of a (T, n d) matrix for
/// positions first..first+T-1, local to the rank. Leaves out: RoPE scaling,
/// fusing the rotation into the QKV projection.
#pragma once

#include "atp/cuda/device_buffer.hpp"
#include "atp/rotary.hpp"

#include <cuda_runtime.h>

namespace atp::cuda {

/// The device cos/sin cache and the per-head rotation.
class RotaryEmbedding {
 public:
  /// Builds the (S, d/2) caches on `stream` (and waits for them).
  /// \throws std::invalid_argument as atp::sim::RotaryEmbedding's constructor.
  RotaryEmbedding(int head_dim, int max_positions, float theta, RopeStyle style, cudaStream_t stream = nullptr);

  /// d.
  int head_dim() const { return head_dim_; }
  /// S.
  int max_positions() const { return cos_.rows(); }
  /// The pair layout.
  RopeStyle style() const { return style_; }
  /// cos (S, d/2) on the device.
  const DeviceMatrix& cos() const { return cos_; }
  /// sin (S, d/2) on the device.
  const DeviceMatrix& sin() const { return sin_; }

  /// x (T, n d) rotated for positions first..first+T-1, on `stream` (not synchronised).
  /// \throws std::invalid_argument as atp::sim::RotaryEmbedding::apply.
  DeviceMatrix apply(const DeviceMatrix& x, int first_position, cudaStream_t stream) const;

 private:
  int head_dim_;
  RopeStyle style_;
  DeviceMatrix cos_;
  DeviceMatrix sin_;
};

}  // namespace atp::cuda
