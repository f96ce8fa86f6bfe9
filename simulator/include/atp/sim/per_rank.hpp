/// \file per_rank.hpp
/// \brief PerRank<T>: one value per virtual rank, the storage of the simulator.
///
/// A tensor-parallel program runs the same code on p GPUs, each with its own
/// copy of every variable. The simulator makes that copy explicit: a
/// `PerRank<Matrix>` is "the matrix called x, as rank 0, 1, ..., p-1 hold it",
/// so chapter code reads `for each rank r: do this to x[r]`. Ranks are plain
/// data in one process: deterministic, printable, easy to step through in a
/// debugger. Leaves out: anything about communication (see collectives.hpp).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace atp::sim {

/// One value of type T for each of p virtual ranks, indexed by rank.
template <class T>
class PerRank {
 public:
  /// p default-constructed values (p >= 0; a World insists on p >= 1).
  explicit PerRank(int p = 0) : values_(checked_count(p)) {}
  /// p copies of `init`.
  PerRank(int p, const T& init) : values_(checked_count(p), init) {}
  /// Takes ownership of one value per rank; rank r gets values[r].
  explicit PerRank(std::vector<T> values) : values_(std::move(values)) {}

  /// Number of ranks.
  int size() const { return static_cast<int>(values_.size()); }

  /// Rank r's value; throws std::invalid_argument naming r and the valid range.
  T& operator[](int r) { return values_[checked(r)]; }
  /// Rank r's value; throws std::invalid_argument naming r and the valid range.
  const T& operator[](int r) const { return values_[checked(r)]; }

  /// Iterators in rank order, so `for (auto& x : per_rank)` visits rank 0 first.
  auto begin() { return values_.begin(); }
  /// End of the rank-order iteration.
  auto end() { return values_.end(); }
  /// Const iteration in rank order.
  auto begin() const { return values_.begin(); }
  /// End of the const rank-order iteration.
  auto end() const { return values_.end(); }

  /// The values in rank order.
  const std::vector<T>& values() const { return values_; }

 private:
  static std::size_t checked_count(int p) {
    if (p < 0) throw std::invalid_argument("PerRank: rank count " + std::to_string(p) + " is negative");
    return static_cast<std::size_t>(p);
  }
  std::size_t checked(int r) const {
    if (r < 0 || r >= size())
      throw std::invalid_argument("PerRank: rank " + std::to_string(r) + " out of range; valid ranks are 0.." +
                                  std::to_string(size() - 1) + " (p = " + std::to_string(size()) + ")");
    return static_cast<std::size_t>(r);
  }
  std::vector<T> values_;
};

/// Builds a PerRank by calling `make(r)` for r = 0..p-1, in rank order.
/// Example: `auto W_r = make_per_rank(p, [&](int r) -> Matrix { return W.middleRows(r * h, h); });`
/// Give the lambda an explicit value return type (`-> Matrix`) when its body
/// is an Eigen expression, or the PerRank would hold views instead of copies.
template <class F>
auto make_per_rank(int p, F&& make) -> PerRank<decltype(make(0))> {
  if (p < 0) throw std::invalid_argument("make_per_rank: rank count " + std::to_string(p) + " is negative");
  std::vector<decltype(make(0))> v;
  v.reserve(static_cast<std::size_t>(p));
  for (int r = 0; r < p; ++r) v.push_back(make(r));
  return PerRank<decltype(make(0))>(std::move(v));
}

}  // namespace atp::sim
