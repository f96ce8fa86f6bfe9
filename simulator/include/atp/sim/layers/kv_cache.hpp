/// \file kv_cache.hpp
/// \brief KVCache: the keys and values one attention layer has seen, each
///        rank keeping only its own KV heads (chapter 7).
///
/// Legend: S = capacity (positions), w = nKV_r d (the width of a rank's keys).
///
///     rank r:  k_r (S, w)  v_r (S, w)   rows 0..length-1 filled, the rest reserved
///
/// A decoder prefills the cache with the prompt's keys and values, then
/// appends one row per generated token; attention reads rows [0, length).
/// The rows are the rank's KV heads only (QKVParallelLinear's assignment), so
/// the cache shrinks as 1/p until p reaches nKV; beyond that each KV head is
/// replicated and so is its cache. Capacity is reserved up front, as serving
/// systems (and the GPU twin) allocate it, and the memory ledger counts it.
/// Leaves out: paging (vLLM's PagedAttention blocks), several sequences,
/// eviction, quantised caches.
#pragma once

#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <string>

namespace atp::sim {

/// One layer's cache on every rank.
class KVCache {
 public:
  /// p ranks, each reserving `capacity` rows of `width` for keys and for values.
  /// \throws std::invalid_argument unless p >= 1, capacity >= 1 and width >= 1.
  KVCache(int p, std::int64_t capacity, std::int64_t width);

  /// Ranks.
  int p() const { return k_.size(); }
  /// S: positions reserved.
  std::int64_t capacity() const { return k_[0].rows(); }
  /// w: columns per rank (nKV_r d).
  std::int64_t width() const { return k_[0].cols(); }
  /// Positions filled so far (the same on every rank).
  std::int64_t length() const { return length_; }

  /// Appends k[r], v[r] (T, w) after the filled rows on every rank.
  /// \throws std::invalid_argument naming the shapes, or the capacity if it would overflow.
  void append(const PerRank<Matrix>& k, const PerRank<Matrix>& v);
  /// Rows [0, length) of rank r's keys: (length, w).
  Matrix keys(int rank) const;
  /// Rows [0, length) of rank r's values: (length, w).
  Matrix values(int rank) const;
  /// Forgets every position (the reservation stays).
  void clear() { length_ = 0; }

  /// Bytes reserved on one rank: 2 S w 4.
  std::int64_t bytes() const { return 2 * fp32_bytes(capacity(), width()); }
  /// Puts the reservation in world.memory() as KVCache "LABEL" on every rank.
  void account_memory(World& world, const std::string& label) const;

 private:
  PerRank<Matrix> k_;
  PerRank<Matrix> v_;
  std::int64_t length_ = 0;
};

}  // namespace atp::sim
