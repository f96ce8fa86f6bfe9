/// \file mpi_bootstrap.cpp
/// \brief The MPI half of mpi_world.hpp (built only when CMake finds MPI):
///        MPI_Init, placement, the id broadcast, MPI_Finalize, and MPI_Abort
///        on any failure so that no rank is left waiting.
#include "atp/cuda/mpi_world.hpp"

#include "atp/cuda/check.hpp"

#include <cuda_runtime.h>
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

// Stops the whole job: a rank that only threw would leave the others waiting
// in MPI_Bcast (or in NCCL's init) until their timeouts.
[[noreturn]] void abort_job(int rank, const std::string& host, const std::string& why) {
  std::fprintf(stderr, "atp-mpi: rank %d (host %s): %s; aborting the MPI job\n", rank, host.c_str(), why.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 3);
  std::_Exit(3);  // MPI_Abort does not return; this is for the compiler and for broken MPIs
}

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw std::runtime_error(std::string(what) + ": " + text);
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || v[0] == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 0 || n > std::numeric_limits<int>::max())
    throw std::invalid_argument(std::string(name) + "='" + v + "' is not a non-negative integer");
  return static_cast<int>(n);
}

MpiPlacement place_this_rank() {
  MpiPlacement where;
  check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &where.rank), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &where.world_size), "MPI_Comm_size");
  // The ranks sharing this node's memory are this node's ranks (as NCCL's MPI
  // example finds them); Open MPI also says so in OMPI_COMM_WORLD_LOCAL_RANK.
  MPI_Comm node = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, where.rank, MPI_INFO_NULL, &node),
            "MPI_Comm_split_type");
  int split_rank = 0, split_size = 1;
  check_mpi(MPI_Comm_rank(node, &split_rank), "MPI_Comm_rank(node)");
  check_mpi(MPI_Comm_size(node, &split_size), "MPI_Comm_size(node)");
  MPI_Comm_free(&node);
  where.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", split_rank);
  where.local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", split_size);
  const int first_on_node = where.local_rank == 0 ? 1 : 0;
  check_mpi(MPI_Allreduce(&first_on_node, &where.nodes, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  return where;
}

// What rank 0 broadcasts: its id, or why it has none.
struct IdMessage {
  int ok = 0;
  char why[400] = {};
  ncclUniqueId id{};
};

}  // namespace

MpiBootstrapHooks default_mpi_bootstrap_hooks() {
  MpiBootstrapHooks hooks;
  hooks.device_count = [] {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess)
      throw std::runtime_error(std::string("cudaGetDeviceCount: ") + cudaGetErrorName(err) + " (" +
                               cudaGetErrorString(err) + ")");
    return count;
  };
  hooks.make_id = [] {
    ncclUniqueId id{};
    ATP_NCCL_CHECK(ncclGetUniqueId(&id));
    return id;
  };
  hooks.nccl_version = [] { return nccl_runtime_version(); };
  return hooks;
}

MpiBootstrap mpi_bootstrap(const MpiBootstrapHooks& hooks, std::ostream& log) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized && MPI_Init(nullptr, nullptr) != MPI_SUCCESS) {
    std::fprintf(stderr, "atp-mpi: MPI_Init failed\n");
    std::_Exit(3);
  }
  const std::string host = host_name();
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MpiBootstrap out;
  try {
    out.where = place_this_rank();
    // srun without an MPI plugin makes every task a world of one: refuse, or
    // p copies would each compute alone and "succeed".
    const std::string launcher = mpi_launcher_variable();
    if (launcher.rfind("SLURM_NTASKS=", 0) == 0 && out.where.world_size == 1)
      throw std::runtime_error("srun started several tasks (" + launcher +
                               ") but MPI sees a world of 1; run srun --mpi=pmix (or pmi2)");
    out.nccl_version = hooks.nccl_version();
    out.device_count = hooks.device_count();
    out.plan = plan_mpi_rank(out.where, out.device_count, out.nccl_version, gpu_sharing_from_env(), host);
    // Before any NCCL call that reads them: NCCL caches the host hash (NCCL_HOSTID) on first use.
    for (const EnvVar& v : out.plan.env)
      if (::setenv(v.name.c_str(), v.value.c_str(), 1) != 0) throw std::runtime_error("setenv " + v.name + " failed");
  } catch (const std::exception& e) {
    abort_job(rank, host, e.what());
  }

  IdMessage msg;
  if (out.where.rank == 0) {
    try {
      msg.id = hooks.make_id();
      msg.ok = 1;
    } catch (const std::exception& e) {
      std::snprintf(msg.why, sizeof msg.why, "%s", e.what());
    }
  }
  if (MPI_Bcast(&msg, sizeof msg, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    abort_job(rank, host, "MPI_Bcast of the ncclUniqueId failed");
  if (msg.ok == 0) abort_job(rank, host, std::string("rank 0 could not create the ncclUniqueId: ") + msg.why);
  out.id = msg.id;

  if (out.where.rank == 0) {
    log << "atp-mpi: " << out.where.world_size << " rank(s) on " << out.where.nodes << " node(s), "
        << out.where.local_size << " on this node with " << out.device_count << " GPU(s), NCCL "
        << nccl_version_string(out.nccl_version) << "; GPU sharing '" << to_string(out.plan.sharing.mode)
        << "': " << out.plan.sharing.reason << "\n";
    log.flush();
  }
  // NCCL alone from here on; Finalize is collective, and every rank gets here.
  MPI_Finalize();
  return out;
}

CommunicatorConfig communicator_config_from_mpi(CommunicatorConfig c) {
  const MpiBootstrap boot = mpi_bootstrap(default_mpi_bootstrap_hooks(), std::cerr);
  c.rank = boot.where.rank;
  c.world_size = boot.where.world_size;
  c.device = boot.plan.device;
  c.id = boot.id;
  c.has_id = true;
  return c;
}

}  // namespace atp::cuda
