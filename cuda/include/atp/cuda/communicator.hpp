/// \file communicator.hpp
/// \brief Communicator: this process's rank in an NCCL communicator, built
///        from the environment that atp-launch sets, and never left hanging.
///
/// One rank per process, as real deployments run (torchrun, mpirun, Slurm).
/// atp-launch (launch.hpp) creates the ncclUniqueId once and hands each child
///
///     ATP_RANK, ATP_WORLD_SIZE   this rank and p
///     ATP_LOCAL_DEVICE           the CUDA device to use (rank % GPUs)
///     ATP_NCCL_ID                the ncclUniqueId as 256 hex digits
///     ATP_NCCL_TIMEOUT_S         optional deadline in seconds (default 60)
///
/// Without ATP_WORLD_SIZE a program started by mpirun or srun bootstraps
/// from MPI (mpi_world.hpp), and one started plainly is a world of one rank
/// (the identity path) that makes its own id, so every chapter binary also
/// runs alone.
///
/// Nothing may hang. The communicator is created nonblocking
/// (ncclConfig_t::blocking = 0) and every wait polls ncclCommGetAsyncError
/// and the stream against a deadline. On an error or a missed deadline the
/// communicator is aborted (ncclCommAbort, which also stops its kernels) and
/// a CudaError says which rank, which operation and why: a dead peer becomes
/// an error on every rank that waits for it, not a hang.
///
/// Left out: several communicators per process, communicator splitting,
/// CUDA graphs, user buffer registration.
#pragma once

#include "atp/cuda/check.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/nccl_id.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <string>

namespace atp::cuda {

/// Where a rank is and how long it may wait; see communicator_config_from_env().
struct CommunicatorConfig {
  int rank = 0;               ///< this rank, 0 <= rank < world_size
  int world_size = 1;         ///< p, the number of ranks
  int device = -1;            ///< CUDA device; -1 = rank % cudaGetDeviceCount()
  bool has_id = false;        ///< false: world_size must be 1, the id is made locally
  ncclUniqueId id{};          ///< the id every rank shares (from ATP_NCCL_ID)
  double timeout_s = 60.0;    ///< deadline for init, each collective and finalize
};

/// Reads ATP_RANK, ATP_WORLD_SIZE, ATP_LOCAL_DEVICE, ATP_NCCL_ID and
/// ATP_NCCL_TIMEOUT_S. With ATP_WORLD_SIZE, ATP_RANK and ATP_NCCL_ID are
/// required. Without it: under an MPI launcher (mpi_launcher_variable())
/// communicator_config_from_mpi(), else one rank, device ATP_LOCAL_DEVICE or 0, no id.
/// \throws std::invalid_argument naming the variable, its value and what is
///         valid, or saying that an MPI launcher started a build without MPI.
CommunicatorConfig communicator_config_from_env();

/// This process's rank: device, stream and NCCL communicator, all owned.
///
/// Not copyable or movable: collectives hold references to it. Every
/// collective in collectives.hpp runs on stream() and returns only when the
/// stream has finished, so results may be read right after the call.
class Communicator {
 public:
  /// Selects the device, creates the stream and joins the communicator;
  /// returns once all world_size ranks have joined.
  /// \throws std::invalid_argument for a bad config; CudaError if CUDA or NCCL
  ///         fail or the ranks do not all join within timeout_s.
  explicit Communicator(const CommunicatorConfig& config);

  /// Communicator(communicator_config_from_env()).
  static Communicator from_env() { return Communicator(communicator_config_from_env()); }

  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  Communicator(Communicator&&) = delete;
  Communicator& operator=(Communicator&&) = delete;

  /// Finalizes and destroys the communicator within the deadline, or aborts
  /// it if it failed or finalize does not finish. Never throws; problems are
  /// reported on stderr.
  ~Communicator();

  /// This rank.
  int rank() const noexcept { return rank_; }
  /// p, the number of ranks.
  int world_size() const noexcept { return world_size_; }
  /// The CUDA device this rank uses.
  int device() const noexcept { return device_; }
  /// The stream every collective of this rank runs on.
  cudaStream_t stream() const noexcept { return stream_; }
  /// The NCCL communicator (nullptr once aborted).
  ncclComm_t nccl() const noexcept { return comm_; }
  /// The deadline, in seconds, for one wait.
  double timeout_s() const noexcept { return timeout_s_; }
  /// True once an error or a missed deadline aborted the communicator.
  bool failed() const noexcept { return failed_; }
  /// "rank 1 of 4 (CUDA device 0)": how messages name this rank.
  std::string describe() const;

  /// Checks what an NCCL enqueue call (a collective, ncclGroupEnd, ...)
  /// returned. ncclInProgress is the nonblocking "not yet": polls
  /// ncclCommGetAsyncError until NCCL has finished enqueueing, as NCCL
  /// requires before the next call or kernel on the stream.
  /// \throws CudaError (after aborting) on an error or a missed deadline.
  void check_enqueue(ncclResult_t result, const char* what);

  /// Waits until everything queued on stream() has finished and NCCL reports
  /// no asynchronous error.
  /// \throws CudaError (after aborting) on an error or a missed deadline; the
  ///         message names this rank, `what` and the timeout.
  void wait(const char* what);

  /// Device scratch of at least `floats` floats, owned by the communicator and
  /// reused across calls. Valid until the next workspace() call; only use it
  /// on stream() and between a collective's start and its wait().
  float* workspace(std::size_t floats);

  /// \throws CudaError naming `what` if an earlier failure aborted the communicator.
  void require_healthy(const char* what) const;

 private:
  // Aborts the communicator, then throws a CudaError naming this rank and `what`.
  [[noreturn]] void fail(const char* what, const std::string& why);
  void abort_now() noexcept;
  // Empty on success, else what went wrong (the caller then aborts).
  std::string finalize_within_deadline() noexcept;

  int rank_ = 0;
  int world_size_ = 1;
  int device_ = 0;
  double timeout_s_ = 60.0;
  bool failed_ = false;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  DeviceBuffer<float> workspace_;
};

}  // namespace atp::cuda
