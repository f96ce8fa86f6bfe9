/// \file memory.cpp
/// \brief The memory ledger: bytes per rank by kind, and its table.
#include "atp/sim/memory.hpp"

#include <cstdio>
#include <stdexcept>

namespace atp::sim {

const char* kind_name(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::Weight: return "weight";
    case MemoryKind::Activation: return "activation";
    case MemoryKind::KVCache: return "kv_cache";
  }
  return "unknown";
}

MemoryLedger::MemoryLedger(int p) : p_(p) {
  if (p < 1) throw std::invalid_argument("MemoryLedger: p = " + std::to_string(p) + " ranks; p must be >= 1");
}

void MemoryLedger::check_rank(int rank, const char* what) const {
  if (rank < 0 || rank >= p_)
    throw std::invalid_argument(std::string("MemoryLedger::") + what + ": rank " + std::to_string(rank) +
                                " out of range; valid ranks are 0.." + std::to_string(p_ - 1));
}

void MemoryLedger::hold(int rank, MemoryKind kind, const std::string& name, std::int64_t bytes) {
  check_rank(rank, "hold");
  if (bytes < 0)
    throw std::invalid_argument("MemoryLedger::hold: '" + name + "' on rank " + std::to_string(rank) + " has " +
                                std::to_string(bytes) + " bytes; bytes must be >= 0");
  for (const auto& e : entries_)
    if (e.rank == rank && e.name == name)
      throw std::invalid_argument("MemoryLedger::hold: rank " + std::to_string(rank) + " already holds '" + name +
                                  "'; release it first or use another name");
  entries_.push_back({rank, kind, name, bytes});
}

void MemoryLedger::hold(int rank, MemoryKind kind, const std::string& name, const Matrix& m) {
  hold(rank, kind, name, fp32_bytes(m.rows(), m.cols()));
}

void MemoryLedger::release(int rank, const std::string& name) {
  check_rank(rank, "release");
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (it->rank == rank && it->name == name) {
      entries_.erase(it);
      return;
    }
  throw std::invalid_argument("MemoryLedger::release: rank " + std::to_string(rank) + " holds nothing named '" + name +
                              "'");
}

std::int64_t MemoryLedger::bytes(int rank, MemoryKind kind) const {
  check_rank(rank, "bytes");
  std::int64_t sum = 0;
  for (const auto& e : entries_)
    if (e.rank == rank && e.kind == kind) sum += e.bytes;
  return sum;
}

std::int64_t MemoryLedger::total(int rank) const {
  check_rank(rank, "total");
  std::int64_t sum = 0;
  for (const auto& e : entries_)
    if (e.rank == rank) sum += e.bytes;
  return sum;
}

std::string MemoryLedger::table() const {
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line, "%-6s %14s %14s %14s %14s\n", "rank", "weight", "activation", "kv_cache", "total");
  out += line;
  for (int r = 0; r < p_; ++r) {
    std::snprintf(line, sizeof line, "%-6d %14lld %14lld %14lld %14lld\n", r,
                  static_cast<long long>(bytes(r, MemoryKind::Weight)),
                  static_cast<long long>(bytes(r, MemoryKind::Activation)),
                  static_cast<long long>(bytes(r, MemoryKind::KVCache)), static_cast<long long>(total(r)));
    out += line;
  }
  return out;
}

}  // namespace atp::sim
