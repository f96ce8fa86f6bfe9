/// \file kv_cache.cpp
/// \brief KVCache on the simulator: reserved rows, appends, and the filled views.
#include "atp/sim/layers/kv_cache.hpp"

#include <stdexcept>

namespace atp::sim {
namespace {

std::string str(long long v) { return std::to_string(v); }

}  // namespace

KVCache::KVCache(int p, std::int64_t capacity, std::int64_t width) : k_(p), v_(p) {
  if (p < 1 || capacity < 1 || width < 1)
    throw std::invalid_argument("KVCache: p " + str(p) + ", capacity " + str(capacity) + " and width " + str(width) +
                                " must all be >= 1");
  for (int r = 0; r < p; ++r) {
    k_[r] = Matrix::Zero(capacity, width);
    v_[r] = Matrix::Zero(capacity, width);
  }
}

void KVCache::append(const PerRank<Matrix>& k, const PerRank<Matrix>& v) {
  if (k.size() != p() || v.size() != p())
    throw std::invalid_argument("KVCache::append: got keys for " + str(k.size()) + " and values for " +
                                str(v.size()) + " ranks; the cache has p = " + str(p()));
  const Eigen::Index T = k[0].rows();
  for (int r = 0; r < p(); ++r)
    if (k[r].rows() != T || v[r].rows() != T || k[r].cols() != width() || v[r].cols() != width())
      throw std::invalid_argument("KVCache::append: rank " + str(r) + " gives keys " + shape_string(k[r]) +
                                  " and values " + shape_string(v[r]) + "; both must be (T, " + str(width()) +
                                  ") with the same T on every rank");
  if (length_ + T > capacity())
    throw std::invalid_argument("KVCache::append: " + str(T) + " more positions after " + str(length_) +
                                " exceed the capacity of " + str(capacity()) + " positions");
  for (int r = 0; r < p(); ++r) {
    k_[r].middleRows(length_, T) = k[r];
    v_[r].middleRows(length_, T) = v[r];
  }
  length_ += T;
}

Matrix KVCache::keys(int rank) const { return k_[rank].topRows(length_); }

Matrix KVCache::values(int rank) const { return v_[rank].topRows(length_); }

void KVCache::account_memory(World& world, const std::string& label) const {
  for (int r = 0; r < p(); ++r) world.memory().hold(r, MemoryKind::KVCache, label, bytes());
}

}  // namespace atp::sim
