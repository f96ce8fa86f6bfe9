/// \file mpi_world.hpp
/// \brief Ranks started by mpirun or srun instead of atp-launch: where each
///        rank is (rank, local rank, node), which GPU it takes, and how the
///        ncclUniqueId reaches every rank (rank 0 creates it, MPI_Bcast shares it).
///
/// The chapter GPU workers need no change to run on a cluster:
/// communicator_config_from_env() sees an MPI launcher's variables
/// (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE, SLURM_NTASKS) when ATP_WORLD_SIZE
/// is not set and, in a build with MPI, calls communicator_config_from_mpi().
/// That is the pattern of NCCL's own example
/// (docs/examples/01_communicators/03_one_device_per_process_mpi: rank 0
/// calls ncclGetUniqueId, MPI_Bcast, the local rank picks the GPU).
///
/// MPI lives only for the bootstrap: MPI_Init, placement, one broadcast,
/// MPI_Finalize. Afterwards the ranks talk through NCCL alone, and a failing
/// rank ends the job through the MPI launcher (mpirun aborts the job when one
/// rank exits non-zero). A failure inside the bootstrap calls MPI_Abort so no
/// rank waits in a broadcast that will never come.
///
/// The pure parts (what a rank's launcher looks like, the plan for one rank)
/// are always built and tested on the CPU; the MPI parts exist only when CMake
/// found MPI (ATP_HAVE_MPI). Left out: MPI for the collectives themselves
/// (NCCL does them), several communicators, dynamic process management.
#pragma once

#include "atp/cuda/communicator.hpp"
#include "atp/cuda/launch.hpp"

#include <nccl.h>

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace atp::cuda {

/// "OMPI_COMM_WORLD_SIZE=4" (or PMIX_RANK, PMI_SIZE, SLURM_NTASKS > 1): the
/// first variable showing that an MPI launcher or srun started this process;
/// empty when none is set.
std::string mpi_launcher_variable();

/// Where one rank is in an MPI job.
struct MpiPlacement {
  int rank = 0;        ///< MPI_COMM_WORLD rank
  int world_size = 1;  ///< MPI_COMM_WORLD size: p
  int local_rank = 0;  ///< rank among the ranks on this node
  int local_size = 1;  ///< ranks on this node
  int nodes = 1;       ///< nodes in the job
};

/// What one rank of an MPI job does before NCCL starts.
struct MpiRankPlan {
  int device = 0;                          ///< CUDA device: local_rank % GPUs on this node
  SharingDecision sharing;                 ///< the node's GPU-sharing mode and why
  std::vector<EnvVar> env;                 ///< NCCL_* variables to set before any NCCL call
};

/// The plan of one rank: sharing decided for local_size ranks on this node's
/// `device_count` GPUs (decide_gpu_sharing), device = local_rank % GPUs, and
/// NCCL_HOSTID "atp-<hostname>-rank-<local_rank>" in host-per-rank mode.
/// \throws std::invalid_argument for a bad placement, a mode that cannot work,
///         or host-per-rank on more than one node (its loopback sockets
///         cannot reach another node).
MpiRankPlan plan_mpi_rank(const MpiPlacement& where, int device_count, int nccl_version, GpuSharing request,
                          const std::string& hostname);

#if defined(ATP_HAVE_MPI)

/// What the bootstrap asks of the machine; the defaults ask CUDA and NCCL,
/// tests replace them (no GPU on CI).
struct MpiBootstrapHooks {
  std::function<int()> device_count;        ///< CUDA devices visible to this rank (cudaGetDeviceCount)
  std::function<ncclUniqueId()> make_id;    ///< rank 0's ncclGetUniqueId; may throw
  std::function<int()> nccl_version;        ///< ncclGetVersion
};

/// The hooks that use CUDA and NCCL.
MpiBootstrapHooks default_mpi_bootstrap_hooks();

/// The result of the bootstrap on one rank.
struct MpiBootstrap {
  MpiPlacement where;   ///< rank, local rank, nodes
  MpiRankPlan plan;     ///< device, sharing mode, NCCL_* variables (already set in the environment)
  int nccl_version = 0; ///< this rank's NCCL library version code
  int device_count = 0; ///< CUDA devices this rank sees
  ncclUniqueId id{};    ///< the id rank 0 created, received by every rank
};

/// MPI_Init (if needed), placement, plan, the plan's NCCL_* variables set with
/// setenv, rank 0's id broadcast to every rank, MPI_Finalize. Rank 0 prints one
/// line to `log`: ranks, nodes, GPUs, NCCL version, sharing mode and why.
/// On any failure on any rank: prints "atp-mpi: rank R (host H): why" to
/// stderr and calls MPI_Abort, so the whole job stops instead of hanging.
/// A failure of rank 0's id is broadcast, so every rank reports it.
MpiBootstrap mpi_bootstrap(const MpiBootstrapHooks& hooks, std::ostream& log);

/// `base` (its timeout) with rank, world size, device and id from
/// mpi_bootstrap() with the default hooks; communicator_config_from_env()
/// calls it under an MPI launcher. The plan's device wins over ATP_LOCAL_DEVICE.
CommunicatorConfig communicator_config_from_mpi(CommunicatorConfig base);

#endif  // ATP_HAVE_MPI

}  // namespace atp::cuda
