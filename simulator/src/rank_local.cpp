/// \file rank_local.cpp
/// \brief Crediting one rank's local compute to the shared trace.
#include "atp/sim/rank_local.hpp"

#include "atp/sim/compute.hpp"

namespace atp::sim {

void credit_compute(World& world, int rank, const Trace& local) {
  world.check_rank(rank, "credit_compute");
  for (const TraceEvent& e : local.events()) {
    if (e.op != kMatmulOp) continue;
    TraceEvent moved = e;
    moved.rank = rank;
    moved.call = world.trace().begin_call();
    world.trace().record(std::move(moved));
  }
}

}  // namespace atp::sim
