/// \file world.hpp
/// \brief World: p virtual ranks in one process, with their trace, memory ledger and narrator.
///
/// The simulator's counterpart of an NCCL communicator: it knows p, and every
/// collective takes it first (`all_gather(world, x, Axis::Cols, "lm_head")`),
/// like `ncclAllGather(..., comm, stream)` takes a communicator. It also
/// carries what the book wants to observe about a run: the Trace of every
/// operation, the MemoryLedger, and (optionally) a Narrator that prints each
/// step. Leaves out: the ranks' data, which lives in PerRank values owned by
/// the chapter code.
#pragma once

#include "atp/sim/memory.hpp"
#include "atp/sim/narrate.hpp"
#include "atp/sim/trace.hpp"

#include <iosfwd>
#include <memory>
#include <string>

namespace atp::sim {

/// p simulated ranks: the communicator, the trace, the memory ledger, the narrator.
class World {
 public:
  /// A world of p ranks; throws std::invalid_argument unless p >= 1.
  explicit World(int p);

  /// Number of ranks p (NCCL's nranks, Megatron's tensor-model-parallel world size).
  int size() const { return p_; }

  /// Every operation recorded so far.
  Trace& trace() { return trace_; }
  /// Every operation recorded so far (read-only).
  const Trace& trace() const { return trace_; }
  /// What each rank holds.
  MemoryLedger& memory() { return memory_; }
  /// What each rank holds (read-only).
  const MemoryLedger& memory() const { return memory_; }

  /// Turns narrated mode on, printing to `out` (which must outlive the world or
  /// the next narrate_to / stop_narrating call).
  void narrate_to(std::ostream& out, NarrateOptions options = {});
  /// Turns narrated mode off.
  void stop_narrating() { narrator_.reset(); }
  /// The narrator, or nullptr when narrated mode is off.
  Narrator* narrator() { return narrator_.get(); }

  /// Throws std::invalid_argument naming `what`, the rank and the valid range unless 0 <= rank < p.
  void check_rank(int rank, const std::string& what) const;

 private:
  int p_;
  Trace trace_;
  MemoryLedger memory_;
  std::unique_ptr<Narrator> narrator_;
};

}  // namespace atp::sim
