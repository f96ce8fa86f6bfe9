/// \file launch.hpp
/// \brief atp-launch as a library: plan the ranks' environment (including how
///        several ranks share one GPU), start one process per rank, supervise
///        them, and never hang.
///
/// The launcher creates the ncclUniqueId once (ncclGetUniqueId, which also
/// starts NCCL's bootstrap root inside the launcher) and starts p children,
/// each with ATP_RANK, ATP_WORLD_SIZE, ATP_LOCAL_DEVICE = rank % GPUs and
/// ATP_NCCL_ID (communicator.hpp reads them).
///
/// GPU sharing. NCCL refuses two ranks of one communicator on one GPU by
/// default, when their host hashes and GPUs are equal: 2.28.9 says "Duplicate
/// GPU detected" (src/init.cc, initTransportsRank), 2.30.3 "Multiple ranks
/// detected using the same GPU" (src/graph/topo.cc, ncclCheckMultiRank).
/// decide_gpu_sharing() picks, per node:
///
/// - ranks <= GPUs: none. Rank r uses GPU r, NCCL's defaults (P2P/NVLink).
/// - ranks <= 2 x GPUs and NCCL >= 2.30.3: multi-rank,
///   NCCL_MULTI_RANK_GPU_ENABLE=1. NCCL's user guide (env.rst, section
///   NCCL_MULTI_RANK_GPU_ENABLE, "since 2.30, experimental"; first released in
///   v2.30.3-1) says the default configuration runs up to 2 ranks per GPU and
///   that exhausting the GPU's resources hangs NCCL, so never more than 2.
/// - otherwise: host-per-rank. Each rank gets its own NCCL_HOSTID, which
///   replaces the host string NCCL hashes (src/misc/utils.cc,
///   getHostHashOnce), so no two ranks share a host hash and the duplicate
///   check cannot fire, whatever the NCCL version; the ranks then talk through
///   the socket transport over loopback (NCCL_NET=Socket,
///   NCCL_SOCKET_IFNAME=lo, NCCL_P2P_DISABLE=1, NCCL_SHM_DISABLE=1,
///   NCCL_IB_DISABLE=1). Slow, but it moves the same bits. One node only.
///
/// ATP_GPU_SHARING=auto|none|multi-rank|host-per-rank (gpu_sharing_from_env)
/// overrides the choice; atp-launch, atp-compare, the MPI bootstrap and the GPU
/// tests (through atp-launch) honour it, and every run prints the mode, why,
/// and the NCCL version.
///
/// Supervision: if one rank fails (non-zero exit, signal) the others are sent
/// SIGTERM, then SIGKILL after a grace period; a global deadline bounds the
/// whole run; every rank's fate is reported. Children are in their own process
/// groups and die with the launcher (PR_SET_PDEATHSIG).
///
/// Left out: several nodes (mpi_world.hpp bootstraps the same binaries from
/// mpirun or srun instead), rank-prefixed output (ranks print straight to the
/// launcher's stdout/stderr), restarting ranks.
#pragma once

#include <chrono>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace atp::cuda {

/// One environment variable.
struct EnvVar {
  std::string name;   ///< e.g. "ATP_RANK"
  std::string value;  ///< e.g. "1"
};

/// How ranks map onto GPUs.
enum class GpuSharing {
  Auto,        ///< request only: pick from ranks, GPUs and the NCCL version
  None,        ///< one GPU per rank (ranks <= GPUs), NCCL's defaults
  MultiRank,   ///< NCCL >= 2.30.3 and ranks <= 2 x GPUs: NCCL_MULTI_RANK_GPU_ENABLE=1
  HostPerRank  ///< a distinct NCCL_HOSTID per rank, sockets over loopback (any NCCL, one node)
};

/// The NCCL version code from which NCCL_MULTI_RANK_GPU_ENABLE exists (2.30.3,
/// the first release that has it).
inline constexpr int kNcclMultiRankGpuVersion = 23003;

/// At most this many ranks per GPU in multi-rank mode (NCCL's user guide: "up to 2").
inline constexpr int kMaxRanksPerGpuMultiRank = 2;

/// The environment variable that requests a GPU-sharing mode.
inline constexpr const char* kGpuSharingEnv = "ATP_GPU_SHARING";

/// "auto", "none", "multi-rank" or "host-per-rank".
const char* to_string(GpuSharing sharing);

/// Parses the names of to_string().
/// \throws std::invalid_argument naming the text and listing the valid names.
GpuSharing parse_gpu_sharing(std::string_view text);

/// ATP_GPU_SHARING parsed (Auto when unset or empty).
/// \throws std::invalid_argument naming the variable, its value and the valid names.
GpuSharing gpu_sharing_from_env();

/// The mode chosen for one node and the one-line reason.
struct SharingDecision {
  GpuSharing mode = GpuSharing::None;  ///< never Auto
  std::string reason;                  ///< e.g. "4 ranks > 1 GPU(s) ..."
};

/// Decides how `ranks` ranks on one node share `device_count` GPUs (see the
/// file comment). \throws std::invalid_argument if ranks < 1, device_count < 1,
/// or the requested mode cannot work (none with ranks > GPUs; multi-rank with
/// NCCL < 2.30.3 or more than 2 ranks per GPU); the message says what would.
SharingDecision decide_gpu_sharing(int ranks, int device_count, int nccl_version, GpuSharing request);

/// The NCCL_* variables a rank needs in `mode` (empty for None); `host_id` is
/// its NCCL_HOSTID in HostPerRank mode and must differ between ranks.
std::vector<EnvVar> sharing_env(GpuSharing mode, const std::string& host_id);

/// What the launcher will do, decided before anything starts.
struct LaunchPlan {
  int ranks = 0;                               ///< p
  int device_count = 0;                        ///< visible CUDA devices
  int nccl_version = 0;                        ///< ncclGetVersion() code
  GpuSharing sharing = GpuSharing::None;       ///< the chosen mode (never Auto)
  std::string reason;                          ///< one line: why this mode
  std::vector<EnvVar> launcher_env;            ///< set in the launcher before ncclGetUniqueId
  std::vector<std::vector<EnvVar>> rank_env;   ///< per rank: ATP_* and the mode's NCCL_* (not ATP_NCCL_ID)
};

/// Decides the GPU-sharing mode (decide_gpu_sharing) and every rank's
/// environment: ATP_RANK, ATP_WORLD_SIZE, ATP_LOCAL_DEVICE = rank % GPUs and
/// the mode's sharing_env() (NCCL_HOSTID "atp-rank-<r>").
/// \throws std::invalid_argument as decide_gpu_sharing().
LaunchPlan plan_launch(int ranks, int device_count, int nccl_version, GpuSharing request = GpuSharing::Auto);

/// One child process: its command line and the variables added to (or
/// replacing those of) the launcher's own environment.
struct ProcessSpec {
  std::vector<std::string> argv;  ///< argv[0] is looked up in PATH unless it contains '/'
  std::vector<EnvVar> env;        ///< overrides on top of the inherited environment
};

/// How one rank ended.
enum class RankStatus {
  Succeeded,    ///< exited with code 0
  Failed,       ///< exited with a non-zero code
  Signaled,     ///< killed by a signal it was not sent by the launcher
  Stopped,      ///< terminated by the launcher because another rank failed or the launcher was interrupted
  TimedOut,     ///< still running at the deadline (then terminated)
  NotStarted,   ///< the launcher gave up before starting it
  Unreaped      ///< did not exit even after SIGKILL within the grace period (reported, not waited for)
};

/// The fate of one rank.
struct RankOutcome {
  int rank = 0;                             ///< which rank
  long pid = 0;                             ///< its process id (0 if never started)
  RankStatus status = RankStatus::NotStarted;  ///< how it ended
  int exit_code = 0;                        ///< exit code when it exited
  int signal = 0;                           ///< signal number when a signal ended it
  std::string description;                  ///< "rank 1 (pid 123) exited with code 3"
};

/// Limits for run_ranks().
struct SuperviseOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};  ///< deadline for the whole run
  std::chrono::milliseconds grace{std::chrono::seconds(5)};     ///< SIGTERM to SIGKILL
};

/// The fate of every rank.
struct SuperviseResult {
  std::vector<RankOutcome> ranks;  ///< one per rank, in rank order
  int first_failed_rank = -1;      ///< the rank whose failure stopped the run; -1 if none
  bool timed_out = false;          ///< the deadline passed
  bool interrupted = false;        ///< the launcher received SIGINT/SIGTERM/SIGHUP
  /// What atp-launch exits with: 0 if all ranks succeeded; else the failed
  /// rank's exit code, 128 + signal for a signal, 124 on timeout, 130 when
  /// interrupted, 125 if a rank could not be started.
  int exit_code = 0;
  /// True when every rank succeeded.
  bool ok() const { return exit_code == 0; }
};

/// Starts every spec as its own process (rank = index), waits for all, and on
/// the first failure or at the deadline terminates the rest. Returns when no
/// child is left running (or, for a child that ignores SIGKILL within the
/// grace period, reports it Unreaped). Writes one line per event to `log`.
/// \throws std::invalid_argument if specs is empty or a command is empty or
///         not found in PATH (before any process starts).
SuperviseResult run_ranks(const std::vector<ProcessSpec>& specs, const SuperviseOptions& options, std::ostream& log);

/// Makes SIGINT, SIGTERM and SIGHUP stop a running run_ranks() (which then
/// terminates its children) instead of killing the launcher outright.
void install_stop_signal_handlers();

/// Everything atp-launch needs.
struct LaunchOptions {
  int ranks = 1;                              ///< p
  std::vector<std::string> command;           ///< the program every rank runs, with its arguments
  GpuSharing sharing = GpuSharing::Auto;      ///< requested GPU-sharing mode
  SuperviseOptions supervise;                 ///< deadline and grace period
};

/// The whole launcher: counts GPUs, reads the NCCL version, plans, prints the
/// chosen mode and why, creates the ncclUniqueId, runs the ranks and reports.
/// Returns the process exit code (SuperviseResult::exit_code, or 125 when the
/// launcher itself cannot proceed, e.g. no CUDA device).
int launch(const LaunchOptions& options, std::ostream& log);

}  // namespace atp::cuda
