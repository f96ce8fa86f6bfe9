/// \file world.cpp
/// \brief World: the rank count, and narrated mode switched on and off.
#include "atp/sim/world.hpp"

#include <stdexcept>

namespace atp::sim {

namespace {
// Checked before the members are built, so the error names World, not Trace.
int checked_world_size(int p) {
  if (p < 1) throw std::invalid_argument("World: p = " + std::to_string(p) + " ranks; a world needs p >= 1");
  return p;
}
}  // namespace

World::World(int p) : p_(checked_world_size(p)), trace_(p), memory_(p) {}

void World::narrate_to(std::ostream& out, NarrateOptions options) {
  narrator_ = std::make_unique<Narrator>(out, options);
}

void World::check_rank(int rank, const std::string& what) const {
  if (rank < 0 || rank >= p_)
    throw std::invalid_argument(what + ": rank " + std::to_string(rank) + " out of range; valid ranks are 0.." +
                                std::to_string(p_ - 1) + " (p = " + std::to_string(p_) + ")");
}

}  // namespace atp::sim
