/// \file kv_cache.hpp
/// \brief GPU KVCache: this rank's keys and values of one attention layer,
///        reserved up front on the device (chapter 7), the twin of
///        atp/sim/layers/kv_cache.hpp.
///
/// Legend: S = capacity, w = nKV_r d. Rows [0, length) are filled; append()
/// copies T new rows after them (one device-to-device copy each for keys and
/// values: the rows are contiguous in row-major order). Leaves out: paging,
/// several sequences.
#pragma once

#include "atp/cuda/device_buffer.hpp"

#include <cuda_runtime.h>

#include <cstdint>

namespace atp::cuda {

/// One layer's cache on this rank.
class KVCache {
 public:
  /// Reserves `capacity` rows of `width` for keys and for values.
  /// \throws std::invalid_argument unless capacity >= 1 and width >= 1.
  KVCache(std::int64_t capacity, std::int64_t width);

  /// S.
  std::int64_t capacity() const { return k_.rows(); }
  /// w.
  std::int64_t width() const { return k_.cols(); }
  /// Positions filled.
  std::int64_t length() const { return length_; }

  /// Copies k, v (T, w) after the filled rows, on `stream` (not synchronised).
  /// \throws std::invalid_argument naming the shapes, or the capacity if it would overflow.
  void append(const DeviceMatrix& k, const DeviceMatrix& v, cudaStream_t stream);
  /// Rows [0, length) of the keys, copied: (length, w), on `stream`.
  DeviceMatrix keys(cudaStream_t stream) const;
  /// Rows [0, length) of the values, copied: (length, w), on `stream`.
  DeviceMatrix values(cudaStream_t stream) const;
  /// Forgets every position.
  void clear() { length_ = 0; }

 private:
  DeviceMatrix k_;
  DeviceMatrix v_;
  std::int64_t length_ = 0;
};

}  // namespace atp::cuda
