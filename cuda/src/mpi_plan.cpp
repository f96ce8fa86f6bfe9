/// \file mpi_plan.cpp
/// \brief The MPI-free half of mpi_world.hpp: recognising an MPI launcher from
///        the environment and planning one rank (GPU, sharing mode, NCCL_*
///        variables). Built with or without MPI, so the CPU tests cover it.
#include "atp/cuda/mpi_world.hpp"

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

const char* env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && v[0] != '\0') ? v : nullptr;
}

bool parse_int(const char* text, int& out) {
  const char* end = text + std::strlen(text);
  const auto [ptr, ec] = std::from_chars(text, end, out);
  return ec == std::errc() && ptr == end;
}

}  // namespace

std::string mpi_launcher_variable() {
  // mpirun/mpiexec of Open MPI, then PMIx (srun --mpi=pmix, Open MPI 5), then
  // PMI-1/2 (MPICH's hydra, srun --mpi=pmi2).
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (const char* v = env_or_null(name)) return std::string(name) + "=" + v;
  // srun without an MPI plugin still starts several tasks: those must not run
  // as independent worlds of one rank each (MPI then reports the mismatch).
  if (const char* v = env_or_null("SLURM_NTASKS")) {
    int n = 0;
    if (parse_int(v, n) && n > 1 && env_or_null("SLURM_PROCID") != nullptr) return std::string("SLURM_NTASKS=") + v;
  }
  return {};
}

MpiRankPlan plan_mpi_rank(const MpiPlacement& where, int device_count, int nccl_version, GpuSharing request,
                          const std::string& hostname) {
  const auto bad = [&](const std::string& what) {
    return std::invalid_argument("MPI placement: " + what + " (rank " + std::to_string(where.rank) + " of " +
                                 std::to_string(where.world_size) + ", local rank " + std::to_string(where.local_rank) +
                                 " of " + std::to_string(where.local_size) + ", " + std::to_string(where.nodes) +
                                 " node(s))");
  };
  if (where.world_size < 1 || where.rank < 0 || where.rank >= where.world_size) throw bad("rank outside the world");
  if (where.local_size < 1 || where.local_rank < 0 || where.local_rank >= where.local_size)
    throw bad("local rank outside this node's ranks");
  if (where.local_size > where.world_size || where.nodes < 1 || where.nodes > where.world_size)
    throw bad("inconsistent counts");
  if (device_count < 1)
    throw std::invalid_argument("rank " + std::to_string(where.rank) + " on host '" + hostname +
                                "' sees no CUDA device; every node of an MPI job needs at least one GPU");

  MpiRankPlan plan;
  plan.sharing = decide_gpu_sharing(where.local_size, device_count, nccl_version, request);
  if (plan.sharing.mode == GpuSharing::HostPerRank && where.nodes > 1)
    throw std::invalid_argument(
        "GPU sharing 'host-per-rank' talks over loopback sockets and works on one node only, but the job spans " +
        std::to_string(where.nodes) + " nodes with " + std::to_string(where.local_size) + " rank(s) on " +
        std::to_string(device_count) + " GPU(s) here; start at most " + std::to_string(device_count) +
        " rank(s) per node (one per GPU), or 2 per GPU with NCCL >= " + nccl_version_string(kNcclMultiRankGpuVersion) +
        " and ATP_GPU_SHARING=multi-rank");
  plan.device = where.local_rank % device_count;
  plan.env = sharing_env(plan.sharing.mode, "atp-" + hostname + "-rank-" + std::to_string(where.local_rank));
  return plan;
}

}  // namespace atp::cuda
