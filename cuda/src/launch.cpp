/// \file launch.cpp
/// \brief atp-launch's logic: fork/exec of one process per rank, and a
///        supervisor loop that cannot hang (the plan of how the ranks share
///        GPUs is in gpu_sharing.cpp).
///
/// The launcher is multi-threaded once ncclGetUniqueId has started NCCL's
/// bootstrap root thread, so between fork() and execve() the child only
/// makes async-signal-safe system calls; every string and array it needs is
/// built before fork(). A close-on-exec pipe tells the parent whether execve
/// succeeded, so "command not found" is reported as such, not as exit 127.
#include "atp/cuda/launch.hpp"

#include "atp/cuda/check.hpp"
#include "atp/cuda/nccl_id.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

extern char** environ;

namespace atp::cuda {
namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void atp_on_stop_signal(int sig) { g_stop_signal = sig; }

std::string signal_text(int sig) {
  const char* name = strsignal(sig);
  return "signal " + std::to_string(sig) + " (" + (name != nullptr ? name : "unknown") + ")";
}

bool is_executable_file(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// PATH lookup done in the parent, before fork, so the child can call execve directly.
std::string resolve_executable(const std::string& name) {
  if (name.empty()) throw std::invalid_argument("atp-launch: the command to run is empty");
  if (name.find('/') != std::string::npos) {
    if (!is_executable_file(name))
      throw std::invalid_argument("atp-launch: '" + name + "' is not an executable file (" + std::strerror(errno) +
                                  ")");
    return name;
  }
  const char* path_env = std::getenv("PATH");
  std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t colon = std::min(path.find(':', start), path.size());
    // Built by appending: GCC 12's -Wrestrict misfires on `dir + "/" + name`.
    std::string candidate;
    if (colon == start)
      candidate.push_back('.');  // an empty PATH entry means the current directory
    else
      candidate.append(path, start, colon - start);
    candidate.push_back('/');
    candidate.append(name);
    if (is_executable_file(candidate)) return candidate;
    start = colon + 1;
  }
  throw std::invalid_argument("atp-launch: command '" + name + "' not found in PATH");
}

// The launcher's environment with `overrides` replacing same-named entries.
std::vector<std::string> child_environment(const std::vector<EnvVar>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    const bool overridden = std::any_of(overrides.begin(), overrides.end(), [&](const EnvVar& v) {
      return entry.size() > v.name.size() && entry.compare(0, v.name.size(), v.name) == 0 &&
             entry[v.name.size()] == '=';
    });
    if (!overridden) env.push_back(entry);
  }
  for (const EnvVar& v : overrides) env.push_back(v.name + "=" + v.value);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// fork + execve; returns the child's pid. Throws std::system_error if fork
// fails or execve fails in the child (reported through the pipe).
pid_t spawn(const std::string& path, std::vector<std::string> argv, std::vector<std::string> env) {
  std::vector<char*> av = c_strings(argv);
  std::vector<char*> ev = c_strings(env);
  const char* file = path.c_str();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "atp-launch: pipe2");
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::system_error(err, std::generic_category(), "atp-launch: fork");
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    ::close(fds[0]);
    ::setpgid(0, 0);                    // its own group, so the launcher can stop its whole tree
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // and it dies if the launcher does
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(file, av.data(), ev.data());
    const int err = errno;
    ssize_t unused = ::write(fds[1], &err, sizeof err);
    (void)unused;
    ::_exit(127);
  }
  ::close(fds[1]);
  ::setpgid(pid, pid);  // also here, so the group exists before we might signal it
  int child_errno = 0;
  ssize_t got = 0;
  do {
    got = ::read(fds[0], &child_errno, sizeof child_errno);
  } while (got < 0 && errno == EINTR);
  ::close(fds[0]);
  if (got == static_cast<ssize_t>(sizeof child_errno)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw std::system_error(child_errno, std::generic_category(), "atp-launch: execve " + path);
  }
  return pid;
}

void signal_group(pid_t pid, int sig) {
  if (::kill(-pid, sig) != 0) (void)::kill(pid, sig);  // group gone: try the process itself
}

std::string rank_label(const RankOutcome& o) {
  return "rank " + std::to_string(o.rank) + " (pid " + std::to_string(o.pid) + ")";
}

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = atp_on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

SuperviseResult run_ranks(const std::vector<ProcessSpec>& specs, const SuperviseOptions& options, std::ostream& log) {
  if (specs.empty()) throw std::invalid_argument("run_ranks: no ranks to run");
  std::vector<std::string> paths;
  for (const ProcessSpec& s : specs) {
    if (s.argv.empty()) throw std::invalid_argument("run_ranks: a rank has an empty command line");
    paths.push_back(resolve_executable(s.argv[0]));
  }

  const int p = static_cast<int>(specs.size());
  g_stop_signal = 0;  // a signal from an earlier run must not stop this one
  SuperviseResult result;
  result.ranks.resize(specs.size());
  std::vector<bool> running(specs.size(), false);
  for (int r = 0; r < p; ++r) result.ranks[static_cast<std::size_t>(r)].rank = r;

  enum class Stop { No, PeerFailed, Timeout, Interrupted, SpawnFailed };
  Stop stop = Stop::No;
  Clock::time_point stop_time{};
  bool killed = false;
  Clock::time_point kill_time{};
  const auto start = Clock::now();

  auto begin_stop = [&](Stop why) {
    if (stop != Stop::No) return;
    stop = why;
    stop_time = Clock::now();
    for (int r = 0; r < p; ++r)
      if (running[static_cast<std::size_t>(r)])
        signal_group(static_cast<pid_t>(result.ranks[static_cast<std::size_t>(r)].pid), SIGTERM);
  };

  for (int r = 0; r < p; ++r) {
    auto& o = result.ranks[static_cast<std::size_t>(r)];
    try {
      o.pid = spawn(paths[static_cast<std::size_t>(r)], specs[static_cast<std::size_t>(r)].argv,
                    child_environment(specs[static_cast<std::size_t>(r)].env));
      running[static_cast<std::size_t>(r)] = true;
    } catch (const std::exception& e) {
      log << "atp-launch: rank " << r << " could not be started: " << e.what() << "\n";
      o.description = "rank " + std::to_string(r) + " could not be started: " + e.what();
      result.first_failed_rank = r;
      begin_stop(Stop::SpawnFailed);
      break;
    }
  }

  for (;;) {
    bool any_running = false;
    for (int r = 0; r < p; ++r) {
      if (!running[static_cast<std::size_t>(r)]) continue;
      auto& o = result.ranks[static_cast<std::size_t>(r)];
      int status = 0;
      const pid_t got = ::waitpid(static_cast<pid_t>(o.pid), &status, WNOHANG);
      if (got == 0 || (got < 0 && errno == EINTR)) {
        any_running = true;
        continue;
      }
      running[static_cast<std::size_t>(r)] = false;
      if (got < 0) {  // ECHILD: someone else reaped it; nothing more to learn
        o.status = RankStatus::Unreaped;
        o.description = rank_label(o) + " vanished (waitpid: " + std::strerror(errno) + ")";
        continue;
      }
      const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
      const std::string how = WIFEXITED(status) ? "exited with code " + std::to_string(o.exit_code)
                                                : "was killed by " + signal_text(o.signal);
      if (clean) {
        o.status = RankStatus::Succeeded;
        o.description = rank_label(o) + " succeeded";
      } else if (stop == Stop::No) {
        o.status = WIFEXITED(status) ? RankStatus::Failed : RankStatus::Signaled;
        o.description = rank_label(o) + " " + how;
        result.first_failed_rank = r;
        log << "atp-launch: " << o.description << "; stopping the other ranks\n";
        begin_stop(Stop::PeerFailed);
      } else {
        o.status = stop == Stop::Timeout ? RankStatus::TimedOut : RankStatus::Stopped;
        o.description = rank_label(o) + " " + how + " after the launcher stopped the run";
      }
    }
    if (!any_running) break;

    const auto now = Clock::now();
    if (stop == Stop::No && g_stop_signal != 0) {
      result.interrupted = true;
      log << "atp-launch: received " << signal_text(g_stop_signal) << "; stopping all ranks\n";
      begin_stop(Stop::Interrupted);
    }
    if (stop == Stop::No && now - start > options.timeout) {
      result.timed_out = true;
      log << "atp-launch: the run exceeded its timeout of "
          << std::chrono::duration<double>(options.timeout).count() << " s; stopping all ranks\n";
      begin_stop(Stop::Timeout);
    }
    if (stop != Stop::No && !killed && now - stop_time > options.grace) {
      for (int r = 0; r < p; ++r)
        if (running[static_cast<std::size_t>(r)])
          signal_group(static_cast<pid_t>(result.ranks[static_cast<std::size_t>(r)].pid), SIGKILL);
      killed = true;
      kill_time = now;
    }
    if (killed && now - kill_time > options.grace) {
      // A process stuck in the kernel (e.g. a wedged driver call) can outlive
      // SIGKILL for a while; report it instead of waiting forever.
      for (int r = 0; r < p; ++r) {
        if (!running[static_cast<std::size_t>(r)]) continue;
        auto& o = result.ranks[static_cast<std::size_t>(r)];
        o.status = RankStatus::Unreaped;
        o.description = rank_label(o) + " did not exit even after SIGKILL";
        running[static_cast<std::size_t>(r)] = false;
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  for (auto& o : result.ranks)
    if (o.pid == 0 && o.description.empty()) o.description = "rank " + std::to_string(o.rank) + " was not started";

  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (stop == Stop::No) {
    result.exit_code = 0;
    log << "atp-launch: all " << p << " rank(s) succeeded in " << secs << " s\n";
    return result;
  }
  switch (stop) {
    case Stop::PeerFailed: {
      const auto& f = result.ranks[static_cast<std::size_t>(result.first_failed_rank)];
      result.exit_code = f.status == RankStatus::Failed ? f.exit_code : 128 + f.signal;
      break;
    }
    case Stop::Timeout: result.exit_code = 124; break;
    case Stop::Interrupted: result.exit_code = 130; break;
    case Stop::SpawnFailed: result.exit_code = 125; break;
    case Stop::No: break;
  }
  log << "atp-launch: run failed after " << secs << " s (exit code " << result.exit_code << "):\n";
  for (const auto& o : result.ranks) log << "atp-launch:   " << o.description << "\n";
  return result;
}

int launch(const LaunchOptions& options, std::ostream& log) {
  if (options.command.empty()) {
    log << "atp-launch: no command given (usage: atp-launch -p N -- program args...)\n";
    return 125;
  }
  int device_count = 0;
  const cudaError_t err = cudaGetDeviceCount(&device_count);
  if (err != cudaSuccess || device_count < 1) {
    log << "atp-launch: no CUDA device found ("
        << (err != cudaSuccess ? cudaGetErrorString(err) : "cudaGetDeviceCount reported 0 devices") << ")\n";
    return 125;
  }
  try {
    const int version = nccl_runtime_version();
    const LaunchPlan plan = plan_launch(options.ranks, device_count, version, options.sharing);
    log << "atp-launch: " << plan.ranks << " rank(s), " << plan.device_count << " GPU(s), NCCL "
        << nccl_version_string(version) << "; GPU sharing '" << to_string(plan.sharing) << "': " << plan.reason
        << "\n";
    for (const EnvVar& v : plan.launcher_env)
      if (::setenv(v.name.c_str(), v.value.c_str(), 1) != 0)
        throw std::system_error(errno, std::generic_category(), "setenv " + v.name);

    ncclUniqueId id{};
    ATP_NCCL_CHECK(ncclGetUniqueId(&id));
    const std::string id_hex = nccl_id_to_hex(id);

    std::vector<ProcessSpec> specs(static_cast<std::size_t>(plan.ranks));
    for (int r = 0; r < plan.ranks; ++r) {
      auto& s = specs[static_cast<std::size_t>(r)];
      s.argv = options.command;
      s.env = plan.rank_env[static_cast<std::size_t>(r)];
      s.env.push_back({"ATP_NCCL_ID", id_hex});
    }
    install_stop_signal_handlers();
    return run_ranks(specs, options.supervise, log).exit_code;
  } catch (const std::exception& e) {
    log << "atp-launch: " << e.what() << "\n";
    return 125;
  }
}

}  // namespace atp::cuda
