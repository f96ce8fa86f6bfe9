/// \file launch.cpp
/// \brief atp-launch: start p ranks of a CUDA/NCCL program on this machine,
///        one process per rank, and report which rank failed and why.
///
/// Usage:
///
///     atp-launch -p 4 -- ./chapter01 --seed 7
///     atp-launch -p 4 --sharing host-per-rank --timeout 120 -- ./worker
///
/// Every rank gets ATP_RANK, ATP_WORLD_SIZE, ATP_LOCAL_DEVICE and
/// ATP_NCCL_ID; atp::cuda::Communicator::from_env() reads them. With more
/// ranks than GPUs the ranks share GPUs (see launch.hpp for the two NCCL
/// modes; ATP_GPU_SHARING sets the default of --sharing). The exit code is 0
/// if every rank succeeded, else the failing rank's code (128 + signal if a signal killed it), 124 on timeout, 130
/// when interrupted, 125 if the launcher itself could not proceed.
/// Left out: several nodes (start the same binaries with mpirun or srun there;
/// mpi_world.hpp).
#include "atp/cuda/launch.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"atp-launch: run one process per rank of a CUDA/NCCL program on this machine"};
  atp::cuda::LaunchOptions options;
  std::string sharing;
  double timeout_s = 600.0;
  double grace_s = 5.0;
  app.add_option("-p,--ranks", options.ranks, "number of ranks (processes) to start")
      ->required()
      ->check(CLI::Range(1, 1024));
  app.add_option("--sharing", sharing,
                 "how ranks share GPUs when there are more ranks than GPUs: auto, none, "
                 "multi-rank (NCCL >= 2.30.3, <= 2 ranks per GPU), host-per-rank (default: $ATP_GPU_SHARING, else auto)");
  app.add_option("--timeout", timeout_s, "seconds before every rank is stopped")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--grace", grace_s, "seconds between SIGTERM and SIGKILL when stopping ranks")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("command", options.command, "the program each rank runs, after --, with its arguments")
      ->required();
  CLI11_PARSE(app, argc, argv);

  try {
    // Checked before anything else, so a bad value is reported even without a GPU.
    options.sharing = sharing.empty() ? atp::cuda::gpu_sharing_from_env() : atp::cuda::parse_gpu_sharing(sharing);
  } catch (const std::exception& e) {
    std::cerr << "atp-launch: " << e.what() << "\n";
    return 125;
  }
  options.supervise.timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000.0));
  options.supervise.grace = std::chrono::milliseconds(static_cast<long long>(grace_s * 1000.0));
  return atp::cuda::launch(options, std::cerr);
}
