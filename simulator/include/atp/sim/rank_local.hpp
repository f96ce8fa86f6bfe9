/// \file rank_local.hpp
/// \brief Work one rank does alone, with whole weights: run it in a world of
///        one rank, then credit its compute to that rank of the shared world.
///
/// Two of chapter 8's strategies run a whole, unsharded encoder on a single
/// rank: strategy A on rank 0 for every image, strategy C on each rank for
/// its own images (vLLM's mm_encoder_tp_mode="data" builds such layers with
/// disable_tp=True). The book builds them as the chapter layers at p = 1
/// (the identity path) and runs them in a World(1): their "all-reduces" are
/// over a world of one, move nothing and involve no other rank. run_on_rank()
/// then copies the local world's matmul events into the shared trace as rank
/// r's, so per-rank flops, busy and idle time are read from one trace.
/// Leaves out: the local world's collectives (a world of one communicates
/// with nobody) and its memory ledger.
#pragma once

#include "atp/sim/trace.hpp"
#include "atp/sim/world.hpp"

#include <utility>

namespace atp::sim {

/// Appends every compute (matmul) event of `local` to world's trace as rank
/// `rank`'s, each as a new call. \throws std::invalid_argument for a bad rank.
void credit_compute(World& world, int rank, const Trace& local);

/// Runs work(local) for a fresh World local(1), credits its compute to `rank`
/// of `world` (credit_compute) and returns what work returned.
template <class Work>
auto run_on_rank(World& world, int rank, Work&& work) {
  world.check_rank(rank, "run_on_rank");
  World local(1);
  auto result = std::forward<Work>(work)(local);
  credit_compute(world, rank, local.trace());
  return result;
}

}  // namespace atp::sim
