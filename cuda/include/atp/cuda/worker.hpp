/// \file worker.hpp
/// \brief What every chapter's GPU worker does first: join the world that
/// atp-launch started, and find its own dump folder.
///
/// A GPU worker is one rank of p processes. It reads its rank and the
/// communicator's id from the ATP_* variables atp-launch sets, refuses a
/// --tp that disagrees with the number of ranks actually started (so a
/// comparison never runs the CPU and the GPU at different p), and dumps into
/// DIR/rankR/, which atp-compare merges. Leaves out: everything chapter-specific.
#pragma once

#include "atp/cuda/communicator.hpp"

#include <filesystem>
#include <stdexcept>
#include <string>

namespace atp::cuda {

/// The communicator of this rank, from atp-launch's environment. `expected_tp`
/// is the worker's --tp (0: accept whatever p was started); if it differs from
/// the number of ranks started, throws std::invalid_argument naming both and the fix.
inline Communicator join_world(int expected_tp) {
  const CommunicatorConfig config = communicator_config_from_env();
  if (expected_tp != 0 && expected_tp != config.world_size)
    throw std::invalid_argument("--tp " + std::to_string(expected_tp) + " but atp-launch started " +
                                std::to_string(config.world_size) + " ranks; pass -p " + std::to_string(expected_tp) +
                                " to atp-launch");
  return Communicator(config);  // a prvalue: no copy or move of the communicator
}

/// DIR/rankR: where rank R of a GPU worker writes its dump (atp-compare merges them).
inline std::filesystem::path rank_dump_dir(const std::filesystem::path& root, int rank) {
  return root / ("rank" + std::to_string(rank));
}

}  // namespace atp::cuda
