/// \file kv_cache.cpp
/// \brief GPU KVCache: appends and filled views as device copies.
#include "atp/cuda/layers/kv_cache.hpp"

#include "atp/cuda/check.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

DeviceMatrix first_rows(const DeviceMatrix& m, std::int64_t n, cudaStream_t stream) {
  DeviceMatrix out(n, m.cols());
  if (out.size() > 0)
    ATP_CUDA_CHECK(cudaMemcpyAsync(out.data(), m.data(), out.size() * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  return out;
}

}  // namespace

KVCache::KVCache(std::int64_t capacity, std::int64_t width) {
  if (capacity < 1 || width < 1)
    throw std::invalid_argument("KVCache: capacity " + std::to_string(capacity) + " and width " +
                                std::to_string(width) + " must be >= 1");
  k_ = DeviceMatrix(capacity, width);
  v_ = DeviceMatrix(capacity, width);
}

void KVCache::append(const DeviceMatrix& k, const DeviceMatrix& v, cudaStream_t stream) {
  if (k.rows() != v.rows() || k.cols() != width() || v.cols() != width())
    throw std::invalid_argument("KVCache::append: keys " + k.shape() + " and values " + v.shape() +
                                " must both be (T, " + std::to_string(width()) + ")");
  if (length_ + k.rows() > capacity())
    throw std::invalid_argument("KVCache::append: " + std::to_string(k.rows()) + " more positions after " +
                                std::to_string(length_) + " exceed the capacity of " + std::to_string(capacity()) +
                                " positions");
  const std::size_t at = static_cast<std::size_t>(length_) * static_cast<std::size_t>(width());
  if (k.size() > 0) {
    ATP_CUDA_CHECK(cudaMemcpyAsync(k_.data() + at, k.data(), k.size() * sizeof(float), cudaMemcpyDeviceToDevice, stream));
    ATP_CUDA_CHECK(cudaMemcpyAsync(v_.data() + at, v.data(), v.size() * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  }
  length_ += k.rows();
}

DeviceMatrix KVCache::keys(cudaStream_t stream) const { return first_rows(k_, length_, stream); }

DeviceMatrix KVCache::values(cudaStream_t stream) const { return first_rows(v_, length_, stream); }

}  // namespace atp::cuda
