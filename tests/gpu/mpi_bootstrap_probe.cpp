/// \file mpi_bootstrap_probe.cpp
/// \brief One rank of the MPI bootstrap without a GPU: runs atp::cuda::mpi_bootstrap
///        under mpirun with a stated number of GPUs and the real ncclGetUniqueId
///        (which needs no GPU), and prints where the rank landed and a digest
///        of the id it received. tests/gpu/test_mpi_bootstrap.sh runs it.
///
///     mpirun -np 4 mpi_bootstrap_probe --devices 2
///     probe rank=1 world=4 local=1 local_size=4 nodes=1 device=1 sharing=host-per-rank nccl=22809 id=9f...
///
/// Failure drills: --fail-id (rank 0 cannot create the id), --die-rank R
/// (rank R exits during the bootstrap), --die-after R (rank R exits after it
/// while the others keep running). Leaves out: the NCCL communicator itself,
/// which needs a GPU (the GPU workers do that part).
#include "atp/cuda/mpi_world.hpp"

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

int arg_int(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  return fallback;
}

bool arg_flag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return true;
  return false;
}

std::uint64_t fnv1a(const char* data, std::size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
  return h;
}

int world_rank() {
  int r = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const int devices = arg_int(argc, argv, "--devices", 1);
  const bool fail_id = arg_flag(argc, argv, "--fail-id");
  const int die_rank = arg_int(argc, argv, "--die-rank", -1);
  const int die_after = arg_int(argc, argv, "--die-after", -1);

  atp::cuda::MpiBootstrapHooks hooks = atp::cuda::default_mpi_bootstrap_hooks();
  hooks.device_count = [&] {
    if (world_rank() == die_rank) std::_Exit(7);  // dies in the middle of the bootstrap
    return devices;
  };
  if (fail_id) hooks.make_id = []() -> ncclUniqueId { throw std::runtime_error("probe: --fail-id"); };

  const atp::cuda::MpiBootstrap boot = atp::cuda::mpi_bootstrap(hooks, std::cout);
  char digest[32];
  std::snprintf(digest, sizeof digest, "%016llx",
                static_cast<unsigned long long>(fnv1a(boot.id.internal, sizeof boot.id.internal)));
  std::printf("probe rank=%d world=%d local=%d local_size=%d nodes=%d device=%d sharing=%s nccl=%d id=%s\n",
              boot.where.rank, boot.where.world_size, boot.where.local_rank, boot.where.local_size, boot.where.nodes,
              boot.plan.device, atp::cuda::to_string(boot.plan.sharing.mode), boot.nccl_version, digest);
  std::fflush(stdout);

  if (die_after >= 0) {
    if (boot.where.rank == die_after) return 5;
    std::this_thread::sleep_for(std::chrono::seconds(30));  // the MPI launcher must stop us long before
  }
  return 0;
}
