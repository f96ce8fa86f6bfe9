/// \file memory.hpp
/// \brief MemoryLedger: which rank holds how many bytes of weights, activations and KV cache.
///
/// Sharding exists to cut memory per rank (a row-parallel weight costs 1/p of
/// the dense one on every rank); the ledger is where chapters 3, 5, 6 and 7
/// write down what each rank holds so they can print and test it. It is an
/// account, not an allocator: entries are what the chapter says it keeps.
/// Leaves out: allocator overhead, workspace, communication buffers.
#pragma once

#include "atp/tensor.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp::sim {

/// What a held buffer is for.
enum class MemoryKind {
  Weight,      ///< parameters (sharded or replicated)
  Activation,  ///< per-forward intermediate tensors
  KVCache      ///< keys and values kept across decode steps
};

/// "weight", "activation" or "kv_cache".
const char* kind_name(MemoryKind kind);

/// One line of the ledger: rank `rank` holds `bytes` of `kind` under `name`.
struct MemoryEntry {
  int rank = 0;                          ///< owner
  MemoryKind kind = MemoryKind::Weight;  ///< what it is for
  std::string name;                      ///< e.g. "block0.mlp.W_up[r]"
  std::int64_t bytes = 0;                ///< size in bytes
};

/// Bytes held per rank, by kind, for a world of p ranks.
class MemoryLedger {
 public:
  /// A ledger for p ranks (p >= 1).
  explicit MemoryLedger(int p);

  /// Records that `rank` holds `bytes` (>= 0) of `kind` named `name`.
  /// Throws std::invalid_argument for a bad rank, negative bytes, or a name
  /// this rank already holds (release it first).
  void hold(int rank, MemoryKind kind, const std::string& name, std::int64_t bytes);
  /// Records that `rank` holds matrix `m` (fp32: rows * cols * 4 bytes).
  void hold(int rank, MemoryKind kind, const std::string& name, const Matrix& m);
  /// Forgets `name` on `rank`; throws std::invalid_argument if it is not held.
  void release(int rank, const std::string& name);

  /// Bytes of `kind` held by `rank`.
  std::int64_t bytes(int rank, MemoryKind kind) const;
  /// Bytes of every kind held by `rank`.
  std::int64_t total(int rank) const;
  /// Every entry, in the order held.
  const std::vector<MemoryEntry>& entries() const { return entries_; }
  /// Forgets everything.
  void clear() { entries_.clear(); }

  /// One line per rank: weight, activation, kv_cache and total bytes.
  std::string table() const;

 private:
  void check_rank(int rank, const char* what) const;
  int p_;
  std::vector<MemoryEntry> entries_;
};

}  // namespace atp::sim
