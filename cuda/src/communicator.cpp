/// \file communicator.cpp
/// \brief Communicator: environment parsing, nonblocking NCCL init, polling
///        waits against a deadline, finalize/abort.
///
/// The polling loops are the whole point: NCCL's blocking calls (and
/// cudaStreamSynchronize on a stream whose NCCL kernel waits for a dead
/// peer) can wait forever. Here every wait re-checks, in a loop, (1) NCCL's
/// asynchronous error, (2) whether the stream is done, (3) the clock.
#include "atp/cuda/communicator.hpp"

#include "atp/cuda/mpi_world.hpp"

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

namespace atp::cuda {
namespace {

using Clock = std::chrono::steady_clock;

const char* env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && v[0] != '\0') ? v : nullptr;
}

// A whole-string base-10 integer in [lo, hi], or invalid_argument naming the variable.
int parse_env_int(const char* name, const char* value, int lo, int hi, const std::string& valid) {
  int out = 0;
  const char* end = value + std::strlen(value);
  const auto [ptr, ec] = std::from_chars(value, end, out);
  if (ec != std::errc() || ptr != end || out < lo || out > hi)
    throw std::invalid_argument(std::string(name) + "='" + value + "' is not valid; expected " + valid);
  return out;
}

double parse_env_seconds(const char* name, const char* value) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(value, &end);
  if (errno != 0 || end == value || *end != '\0' || !(v > 0.0) || v > 86400.0)
    throw std::invalid_argument(std::string(name) + "='" + value +
                                "' is not valid; expected a number of seconds in (0, 86400]");
  return v;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Short sleeps keep the latency of a small collective low while a rank that
// waits for a slow peer does not burn a whole core.
void backoff(int& spins) {
  if (spins < 1000) {
    ++spins;
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

std::string nccl_last_error(ncclComm_t comm) {
  const char* s = ncclGetLastError(comm);
  return (s != nullptr && s[0] != '\0') ? std::string("; NCCL's last error: ") + s : std::string();
}

}  // namespace

CommunicatorConfig communicator_config_from_env() {
  CommunicatorConfig c;
  if (const char* t = env_or_null("ATP_NCCL_TIMEOUT_S")) c.timeout_s = parse_env_seconds("ATP_NCCL_TIMEOUT_S", t);
  if (const char* d = env_or_null("ATP_LOCAL_DEVICE"))
    c.device = parse_env_int("ATP_LOCAL_DEVICE", d, 0, 1 << 20, "a CUDA device index >= 0");

  const char* ws = env_or_null("ATP_WORLD_SIZE");
  if (ws == nullptr) {
    if (env_or_null("ATP_RANK") != nullptr || env_or_null("ATP_NCCL_ID") != nullptr)
      throw std::invalid_argument(
          "ATP_RANK or ATP_NCCL_ID is set but ATP_WORLD_SIZE is not; set all three (atp-launch does) or none");
    // Started by mpirun or srun: the ranks find each other through MPI. Never
    // fall through to "alone", or p copies would each compute a world of one.
    const std::string launcher = mpi_launcher_variable();
    if (!launcher.empty()) {
#if defined(ATP_HAVE_MPI)
      return communicator_config_from_mpi(c);
#else
      throw std::invalid_argument("started by an MPI launcher (" + launcher +
                                  ") but this binary was built without MPI; install libopenmpi-dev and "
                                  "reconfigure, or start the ranks with atp-launch");
#endif
    }
    // Run alone: the identity path of every chapter, no launcher needed.
    c.rank = 0;
    c.world_size = 1;
    if (c.device < 0) c.device = 0;
    return c;
  }
  c.world_size = parse_env_int("ATP_WORLD_SIZE", ws, 1, 1 << 20, "an integer >= 1");
  const char* rk = env_or_null("ATP_RANK");
  if (rk == nullptr) throw std::invalid_argument("ATP_WORLD_SIZE is set but ATP_RANK is not");
  c.rank = parse_env_int("ATP_RANK", rk, 0, c.world_size - 1,
                         "an integer in [0, ATP_WORLD_SIZE=" + std::to_string(c.world_size) + ")");
  const char* id = env_or_null("ATP_NCCL_ID");
  if (id == nullptr) {
    if (c.world_size > 1)
      throw std::invalid_argument("ATP_WORLD_SIZE=" + std::to_string(c.world_size) +
                                  " but ATP_NCCL_ID is not set; start the ranks with atp-launch");
  } else {
    c.id = nccl_id_from_hex(id);
    c.has_id = true;
  }
  return c;
}

std::string nccl_id_to_hex(const ncclUniqueId& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof(id.internal));
  for (const char ch : id.internal) {
    const auto b = static_cast<unsigned char>(ch);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

ncclUniqueId nccl_id_from_hex(std::string_view hex) {
  ncclUniqueId id{};
  constexpr std::size_t kWant = 2 * sizeof(id.internal);
  if (hex.size() != kWant)
    throw std::invalid_argument("ncclUniqueId hex has " + std::to_string(hex.size()) + " characters; expected " +
                                std::to_string(kWant));
  auto nibble = [&](std::size_t i) -> unsigned {
    const char ch = hex[i];
    if (ch >= '0' && ch <= '9') return static_cast<unsigned>(ch - '0');
    if (ch >= 'a' && ch <= 'f') return static_cast<unsigned>(ch - 'a' + 10);
    if (ch >= 'A' && ch <= 'F') return static_cast<unsigned>(ch - 'A' + 10);
    throw std::invalid_argument("ncclUniqueId hex: character " + std::to_string(i) + " ('" + std::string(1, ch) +
                                "') is not a hex digit");
  };
  for (std::size_t i = 0; i < sizeof(id.internal); ++i)
    id.internal[i] = static_cast<char>((nibble(2 * i) << 4) | nibble(2 * i + 1));
  return id;
}

int nccl_runtime_version() {
  int v = 0;
  ATP_NCCL_CHECK(ncclGetVersion(&v));
  return v;
}

std::string nccl_version_string(int code) {
  // NCCL_VERSION(X,Y,Z): X*1000+Y*100+Z up to 2.8, X*10000+Y*100+Z from 2.9 on.
  const int major = code >= 10000 ? code / 10000 : code / 1000;
  const int minor = code >= 10000 ? (code % 10000) / 100 : (code % 1000) / 100;
  const int patch = code % 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

Communicator::Communicator(const CommunicatorConfig& config)
    : rank_(config.rank), world_size_(config.world_size), timeout_s_(config.timeout_s) {
  if (config.world_size < 1)
    throw std::invalid_argument("Communicator: world_size = " + std::to_string(config.world_size) +
                                "; it must be >= 1");
  if (config.rank < 0 || config.rank >= config.world_size)
    throw std::invalid_argument("Communicator: rank = " + std::to_string(config.rank) + " is outside [0, " +
                                std::to_string(config.world_size) + ")");
  if (!(config.timeout_s > 0.0))
    throw std::invalid_argument("Communicator: timeout_s = " + std::to_string(config.timeout_s) +
                                "; it must be > 0");
  if (!config.has_id && config.world_size > 1)
    throw std::invalid_argument("Communicator: world_size = " + std::to_string(config.world_size) +
                                " needs the shared ncclUniqueId (has_id = false)");

  int count = 0;
  ATP_CUDA_CHECK(cudaGetDeviceCount(&count));
  device_ = config.device >= 0 ? config.device : rank_ % count;
  if (device_ >= count)
    throw std::invalid_argument("Communicator: CUDA device " + std::to_string(device_) + " requested but only " +
                                std::to_string(count) + " visible (valid: 0.." + std::to_string(count - 1) + ")");
  ATP_CUDA_CHECK(cudaSetDevice(device_));
  ATP_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));

  try {
    ncclUniqueId id = config.id;
    if (!config.has_id) ATP_NCCL_CHECK(ncclGetUniqueId(&id));

    ncclConfig_t nccl_config = NCCL_CONFIG_INITIALIZER;
    nccl_config.blocking = 0;  // init returns at once; we poll against our own deadline
    const ncclResult_t res = ncclCommInitRankConfig(&comm_, world_size_, id, rank_, &nccl_config);
    if (res != ncclSuccess && res != ncclInProgress)
      fail("ncclCommInitRankConfig", std::string(ncclGetErrorString(res)) + nccl_last_error(comm_));
    // Init is done when the asynchronous state leaves ncclInProgress; that
    // needs every rank to have joined, so this is where a missing rank shows.
    check_enqueue(ncclInProgress, "ncclCommInitRankConfig (waiting for all ranks to join)");
  } catch (...) {
    abort_now();
    (void)cudaStreamDestroy(stream_);
    stream_ = nullptr;
    throw;
  }
}

Communicator::~Communicator() {
  if (comm_ != nullptr && !failed_) {
    const std::string problem = finalize_within_deadline();
    if (problem.empty()) {
      const ncclResult_t d = ncclCommDestroy(comm_);
      if (d != ncclSuccess)
        std::cerr << "atp::cuda::Communicator: " << describe() << ": ncclCommDestroy: " << ncclGetErrorString(d)
                  << "\n";
      comm_ = nullptr;
    } else {
      std::cerr << "atp::cuda::Communicator: " << describe() << ": " << problem << "; aborting\n";
    }
  }
  abort_now();
  workspace_.reset();
  if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
}

std::string Communicator::finalize_within_deadline() noexcept {
  try {
    // Finalize flushes outstanding work; nonblocking, so poll it like the rest.
    const ncclResult_t res = ncclCommFinalize(comm_);
    if (res != ncclSuccess && res != ncclInProgress)
      return std::string("ncclCommFinalize: ") + ncclGetErrorString(res) + nccl_last_error(comm_);
    const auto t0 = Clock::now();
    int spins = 0;
    for (;;) {
      ncclResult_t state = ncclSuccess;
      const ncclResult_t q = ncclCommGetAsyncError(comm_, &state);
      if (q != ncclSuccess) return std::string("ncclCommGetAsyncError: ") + ncclGetErrorString(q);
      if (state == ncclSuccess) return {};
      if (state != ncclInProgress)
        return std::string("ncclCommFinalize: ") + ncclGetErrorString(state) + nccl_last_error(comm_);
      if (seconds_since(t0) > timeout_s_)
        return "ncclCommFinalize did not finish within " + std::to_string(timeout_s_) + " s";
      backoff(spins);
    }
  } catch (const std::exception& e) {  // std::string allocation; nothing else throws here
    return e.what();
  }
}

std::string Communicator::describe() const {
  return "rank " + std::to_string(rank_) + " of " + std::to_string(world_size_) + " (CUDA device " +
         std::to_string(device_) + ")";
}

void Communicator::abort_now() noexcept {
  if (comm_ != nullptr) {
    // Abort stops this rank's NCCL kernels and frees the communicator; its
    // result cannot be acted on any further.
    (void)ncclCommAbort(comm_);
    comm_ = nullptr;
  }
}

void Communicator::fail(const char* what, const std::string& why) {
  failed_ = true;
  abort_now();
  throw CudaError("atp::cuda::Communicator: " + describe() + ": " + what + ": " + why +
                  " (communicator aborted)");
}

void Communicator::require_healthy(const char* what) const {
  if (failed_ || comm_ == nullptr)
    throw CudaError("atp::cuda::Communicator: " + describe() + ": " + what +
                    ": the communicator was aborted by an earlier error");
}

void Communicator::check_enqueue(ncclResult_t result, const char* what) {
  if (result == ncclSuccess) return;
  if (result != ncclInProgress) fail(what, std::string(ncclGetErrorString(result)) + nccl_last_error(comm_));
  const auto t0 = Clock::now();
  int spins = 0;
  for (;;) {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t q = ncclCommGetAsyncError(comm_, &state);
    if (q != ncclSuccess) fail(what, std::string("ncclCommGetAsyncError: ") + ncclGetErrorString(q));
    if (state == ncclSuccess) return;
    if (state != ncclInProgress) fail(what, std::string(ncclGetErrorString(state)) + nccl_last_error(comm_));
    if (seconds_since(t0) > timeout_s_)
      fail(what, "not done after " + std::to_string(timeout_s_) +
                     " s (ATP_NCCL_TIMEOUT_S); another rank probably died or never started");
    backoff(spins);
  }
}

void Communicator::wait(const char* what) {
  require_healthy(what);
  const auto t0 = Clock::now();
  int spins = 0;
  for (;;) {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t q = ncclCommGetAsyncError(comm_, &state);
    if (q != ncclSuccess) fail(what, std::string("ncclCommGetAsyncError: ") + ncclGetErrorString(q));
    if (state != ncclSuccess && state != ncclInProgress)
      fail(what, std::string(ncclGetErrorString(state)) + nccl_last_error(comm_));
    if (state == ncclSuccess) {
      const cudaError_t s = cudaStreamQuery(stream_);
      if (s == cudaSuccess) return;
      if (s != cudaErrorNotReady)
        fail(what, std::string("cudaStreamQuery: ") + cudaGetErrorName(s) + " (" + cudaGetErrorString(s) + ")");
    }
    if (seconds_since(t0) > timeout_s_)
      fail(what, "not finished after " + std::to_string(timeout_s_) +
                     " s (ATP_NCCL_TIMEOUT_S); a peer rank probably died or is stuck");
    backoff(spins);
  }
}

float* Communicator::workspace(std::size_t floats) {
  if (workspace_.size() < floats) {
    // Every collective waits for its stream before returning, so nothing in
    // flight can still use the old buffer when it is freed here.
    workspace_.reset();
    workspace_ = DeviceBuffer<float>(floats);
  }
  return workspace_.data();
}

}  // namespace atp::cuda
