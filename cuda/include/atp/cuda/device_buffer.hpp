/// \file device_buffer.hpp
/// \brief RAII device memory: DeviceBuffer<T> (a counted cudaMalloc) and
///        DeviceMatrix (a row-major fp32 matrix on the GPU), with copies to
///        and from the host and atp::Matrix.
///
/// Plain cudaMalloc, never managed memory: the bytes live on one device and
/// move only when a copy says so. Copies take a stream and return once the
/// copy has finished (cudaMemcpyAsync + cudaStreamSynchronize on that
/// stream), so they are ordered after whatever was queued on the stream,
/// including NCCL work on a communicator's stream.
///
/// Left out: pinned host staging, asynchronous copies that return early,
/// pitched/strided layouts, multi-device ownership (a buffer belongs to the
/// device that was current when it was made).
#pragma once

#include "atp/cuda/check.hpp"
#include "atp/tensor.hpp"

#include <cuda_runtime.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace atp::cuda {

/// `count` elements of T in device memory; move-only, freed on destruction.
template <class T>
class DeviceBuffer {
  static_assert(std::is_trivially_copyable_v<T>, "DeviceBuffer holds bytes copied with cudaMemcpy");

 public:
  /// An empty buffer (no allocation, data() == nullptr).
  DeviceBuffer() noexcept = default;

  /// Allocates `count` uninitialised elements on the current device.
  /// \throws std::invalid_argument if count * sizeof(T) overflows; CudaError if cudaMalloc fails.
  explicit DeviceBuffer(std::size_t count) : count_(count) {
    if (count > std::numeric_limits<std::size_t>::max() / sizeof(T))
      throw std::invalid_argument("DeviceBuffer: " + std::to_string(count) + " elements of " +
                                  std::to_string(sizeof(T)) + " bytes overflow size_t");
    if (count > 0) ATP_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), bytes()));
  }

  /// A buffer holding a copy of `host`.
  static DeviceBuffer from_host(const std::vector<T>& host, cudaStream_t stream = nullptr) {
    DeviceBuffer b(host.size());
    b.upload(host.data(), host.size(), stream);
    return b;
  }

  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  /// Takes other's allocation; other becomes empty.
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)), count_(std::exchange(other.count_, 0)) {}

  /// Frees this buffer's allocation and takes other's.
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      reset();
      ptr_ = std::exchange(other.ptr_, nullptr);
      count_ = std::exchange(other.count_, 0);
    }
    return *this;
  }

  ~DeviceBuffer() { reset(); }

  /// Frees the allocation now; the buffer becomes empty.
  void reset() noexcept {
    if (ptr_ != nullptr) {
      // A destructor must not throw; cudaFree only fails here when the
      // context is already broken, and that error resurfaces at the next
      // checked call anyway.
      (void)cudaFree(ptr_);
      ptr_ = nullptr;
    }
    count_ = 0;
  }

  /// Device pointer (nullptr when empty).
  T* data() noexcept { return ptr_; }
  /// Device pointer (nullptr when empty).
  const T* data() const noexcept { return ptr_; }
  /// Number of elements.
  std::size_t size() const noexcept { return count_; }
  /// Number of bytes.
  std::size_t bytes() const noexcept { return count_ * sizeof(T); }
  /// True when size() == 0.
  bool empty() const noexcept { return count_ == 0; }

  /// Copies `count` host elements into the buffer; count must equal size().
  void upload(const T* host, std::size_t count, cudaStream_t stream = nullptr) {
    check_count("upload", count);
    if (count == 0) return;
    ATP_CUDA_CHECK(cudaMemcpyAsync(ptr_, host, bytes(), cudaMemcpyHostToDevice, stream));
    ATP_CUDA_CHECK(cudaStreamSynchronize(stream));
  }

  /// Copies the buffer into `count` host elements; count must equal size().
  void download(T* host, std::size_t count, cudaStream_t stream = nullptr) const {
    check_count("download", count);
    if (count == 0) return;
    ATP_CUDA_CHECK(cudaMemcpyAsync(host, ptr_, bytes(), cudaMemcpyDeviceToHost, stream));
    ATP_CUDA_CHECK(cudaStreamSynchronize(stream));
  }

  /// The buffer's contents as a host vector.
  std::vector<T> to_host(cudaStream_t stream = nullptr) const {
    std::vector<T> out(count_);
    download(out.data(), out.size(), stream);
    return out;
  }

  /// Sets every byte to `byte` (0 gives +0.0f for floats), queued on `stream`.
  void fill_bytes(int byte, cudaStream_t stream = nullptr) {
    if (count_ > 0) ATP_CUDA_CHECK(cudaMemsetAsync(ptr_, byte, bytes(), stream));
  }

 private:
  void check_count(const char* what, std::size_t count) const {
    if (count != count_)
      throw std::invalid_argument(std::string("DeviceBuffer::") + what + ": host has " + std::to_string(count) +
                                  " elements, device buffer has " + std::to_string(count_) +
                                  "; they must be equal");
  }

  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

/// A (rows, cols) row-major fp32 matrix on the device: the GPU twin of
/// atp::Matrix. Element (i, j) is at data()[i * cols + j], exactly as on
/// the host, so copies are one memcpy.
class DeviceMatrix {
 public:
  /// An empty (0, 0) matrix.
  DeviceMatrix() = default;

  /// Allocates an uninitialised (rows, cols) matrix.
  /// \throws std::invalid_argument if a dimension is negative or above INT_MAX
  ///         (kernels index rows and columns with int).
  DeviceMatrix(std::int64_t rows, std::int64_t cols) : rows_(checked_dim(rows, "rows")), cols_(checked_dim(cols, "cols")),
        buf_(static_cast<std::size_t>(rows_) * static_cast<std::size_t>(cols_)) {}

  /// Number of rows.
  int rows() const noexcept { return rows_; }
  /// Number of columns.
  int cols() const noexcept { return cols_; }
  /// rows() * cols().
  std::size_t size() const noexcept { return buf_.size(); }
  /// Device pointer to element (0, 0).
  float* data() noexcept { return buf_.data(); }
  /// Device pointer to element (0, 0).
  const float* data() const noexcept { return buf_.data(); }
  /// The underlying buffer (rows() * cols() floats).
  DeviceBuffer<float>& buffer() noexcept { return buf_; }
  /// The underlying buffer (rows() * cols() floats).
  const DeviceBuffer<float>& buffer() const noexcept { return buf_; }
  /// "(rows, cols)", as atp::shape_string prints host shapes.
  std::string shape() const { return shape_string(rows_, cols_); }

 private:
  static int checked_dim(std::int64_t v, const char* name) {
    if (v < 0 || v > INT_MAX)
      throw std::invalid_argument(std::string("DeviceMatrix: ") + name + " = " + std::to_string(v) +
                                  " is outside [0, " + std::to_string(INT_MAX) + "]");
    return static_cast<int>(v);
  }

  int rows_ = 0;
  int cols_ = 0;
  DeviceBuffer<float> buf_;
};

/// A device copy of host matrix `m` (same shape, same bits).
inline DeviceMatrix to_device(const Matrix& m, cudaStream_t stream = nullptr) {
  DeviceMatrix d(m.rows(), m.cols());
  d.buffer().upload(m.data(), static_cast<std::size_t>(m.size()), stream);
  return d;
}

/// A host copy of device matrix `d` (same shape, same bits).
inline Matrix to_host(const DeviceMatrix& d, cudaStream_t stream = nullptr) {
  Matrix m(d.rows(), d.cols());
  d.buffer().download(m.data(), static_cast<std::size_t>(m.size()), stream);
  return m;
}

/// Copies host matrix `m` into existing device matrix `d`.
/// \throws std::invalid_argument if the shapes differ (names both).
inline void upload(const Matrix& m, DeviceMatrix& d, cudaStream_t stream = nullptr) {
  if (m.rows() != d.rows() || m.cols() != d.cols())
    throw std::invalid_argument("upload: host matrix " + shape_string(m) +
                                " does not match device matrix " + d.shape());
  d.buffer().upload(m.data(), static_cast<std::size_t>(m.size()), stream);
}

}  // namespace atp::cuda
