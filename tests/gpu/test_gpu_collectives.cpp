/// \file test_gpu_collectives.cpp
/// \brief The GPU collectives, run as p real processes through atp-launch,
///        against expectations computed here by hand: rank-order sums, NCCL's
///        ring order chunk by chunk, exact gathers and broadcasts; native
///        ncclAllReduce at p = 2 is bitwise x0 + x1. Also: a rank that dies or
///        stalls produces an error, not a hang; with ATP_COLLECTIVE_CHECK=1,
///        ranks that call different collectives get an error naming both calls.
///
/// Each case starts collective_worker under atp-launch for p = 1, 2, 4 (on
/// one GPU the ranks share it; see cuda/README.md), then reads the files the
/// ranks wrote. The expected values are plain loops over the same inputs
/// (atp::random_matrix(1, n, seed, rank, 3.7f)), written without any code from
/// cuda/ or simulator/. Needs a GPU; skips without one.
#include "atp/rng.hpp"
#include "gpu_test_util.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#ifndef ATP_LAUNCH_EXE
#error "ATP_LAUNCH_EXE must name the atp-launch executable"
#endif
#ifndef ATP_COLLECTIVE_WORKER_EXE
#error "ATP_COLLECTIVE_WORKER_EXE must name the collective_worker executable"
#endif

namespace fs = std::filesystem;

namespace {

constexpr int kN = 1003;      // not divisible by 2 or 4: uneven ring chunks
constexpr int kSmallN = 3;    // fewer elements than ranks at p = 4: an empty chunk
constexpr int kRows = 8;
constexpr int kCols = 12;
constexpr std::uint64_t kSeed = 2024;
constexpr float kScale = 3.7f;  // as collective_worker: full significands, so sums round

struct Run {
  int exit_code = -1;
  std::string log;
  double seconds = 0.0;
  fs::path dir;
};

// Runs `atp-launch -p p <launcher_args> -- worker --out dir <worker_args>`, output to a log file.
Run launch(int p, const std::string& tag, const std::string& env, const std::string& launcher_args,
           const std::string& worker_args) {
  Run run;
  run.dir = fs::temp_directory_path() / ("atp-gpu-" + tag + "-p" + std::to_string(p) + "-" + std::to_string(::getpid()));
  fs::remove_all(run.dir);
  fs::create_directories(run.dir);
  const fs::path log = run.dir / "launch.log";
  const std::string cmd = env + " '" + std::string(ATP_LAUNCH_EXE) + "' -p " + std::to_string(p) + " " +
                          launcher_args + " -- '" + std::string(ATP_COLLECTIVE_WORKER_EXE) + "' --out '" +
                          run.dir.string() + "' " + worker_args + " > '" + log.string() + "' 2>&1";
  const auto t0 = std::chrono::steady_clock::now();
  const int status = std::system(cmd.c_str());
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  std::ifstream f(log);
  run.log.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return run;
}

atp::Matrix read_raw(const fs::path& dir, const std::string& what, int rank, int rows, int cols) {
  const fs::path path = dir / (what + ".r" + std::to_string(rank) + ".bin");
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "missing result file " << path.string());
  atp::Matrix m(rows, cols);
  f.read(reinterpret_cast<char*>(m.data()), static_cast<std::streamsize>(m.size() * sizeof(float)));
  REQUIRE_MESSAGE(f.gcount() == static_cast<std::streamsize>(m.size() * sizeof(float)),
                  path.string() << " is shorter than " << rows << " x " << cols << " floats");
  CHECK_MESSAGE(f.peek() == std::ifstream::traits_type::eof(), path.string() << " is longer than expected");
  return m;
}

std::vector<atp::Matrix> vectors(int p, int n, std::uint64_t seed) {
  std::vector<atp::Matrix> x;
  for (int r = 0; r < p; ++r) x.push_back(atp::random_matrix(1, n, seed, static_cast<std::uint64_t>(r), kScale));
  return x;
}

// ((x0 + x1) + x2) + ...
atp::Matrix rank_order(const std::vector<atp::Matrix>& x) {
  atp::Matrix s = x[0];
  for (std::size_t r = 1; r < x.size(); ++r)
    for (Eigen::Index i = 0; i < s.size(); ++i) s(i) = s(i) + x[r](i);
  return s;
}

// NCCL's ring: chunk c of ceil(n/p) elements is ((x[c+1] + x[c+2]) + ...) + x[c].
atp::Matrix ring_order(const std::vector<atp::Matrix>& x) {
  const int p = static_cast<int>(x.size());
  const Eigen::Index n = x[0].size();
  const Eigen::Index chunk = (n + p - 1) / p;
  atp::Matrix s(1, n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const int c = static_cast<int>(i / chunk);
    float acc = x[static_cast<std::size_t>((c + 1) % p)](i);
    for (int k = 2; k <= p; ++k) acc = acc + x[static_cast<std::size_t>((c + k) % p)](i);
    s(i) = acc;
  }
  return s;
}

const std::string kWorkerArgs = "--n " + std::to_string(kN) + " --small-n " + std::to_string(kSmallN) +
                                " --rows " + std::to_string(kRows) + " --cols " + std::to_string(kCols) +
                                " --seed " + std::to_string(kSeed);

}  // namespace

TEST_CASE("collectives on p = 1, 2, 4 GPU ranks match hand-computed results bit for bit") {
  if (atp::test::skip_without_gpu()) return;
  for (int p : {1, 2, 4}) {
    CAPTURE(p);
    const Run run = launch(p, "coll", "ATP_NCCL_TIMEOUT_S=120", "--timeout 300", kWorkerArgs);
    INFO(run.log);
    REQUIRE(run.exit_code == 0);

    const auto x = vectors(p, kN, kSeed);
    const auto xs = vectors(p, kSmallN, kSeed + 7);
    std::vector<atp::Matrix> X;
    for (int r = 0; r < p; ++r) X.push_back(atp::random_matrix(kRows, kCols, kSeed + 1, static_cast<std::uint64_t>(r), kScale));
    const atp::Matrix sum_ro = rank_order(x), sum_ring = ring_order(x);
    const atp::Matrix small_ro = rank_order(xs), small_ring = ring_order(xs);
    const atp::Matrix Xsum = rank_order(X);
    atp::Matrix rows_cat(p * kRows, kCols), cols_cat(kRows, p * kCols);
    for (int r = 0; r < p; ++r) {
      rows_cat.middleRows(r * kRows, kRows) = X[static_cast<std::size_t>(r)];
      cols_cat.middleCols(r * kCols, kCols) = X[static_cast<std::size_t>(r)];
    }

    for (int r = 0; r < p; ++r) {
      CAPTURE(r);
      using atp::test::require_bitwise;
      require_bitwise(read_raw(run.dir, "all_reduce_rank-order", r, 1, kN), sum_ro, "rank-order all-reduce");
      require_bitwise(read_raw(run.dir, "all_reduce_ring", r, 1, kN), sum_ring, "ring all-reduce");
      require_bitwise(read_raw(run.dir, "all_reduce_small_rank-order", r, 1, kSmallN), small_ro,
                      "rank-order all-reduce, n < p");
      require_bitwise(read_raw(run.dir, "all_reduce_small_ring", r, 1, kSmallN), small_ring,
                      "ring all-reduce, n < p");
      const atp::Matrix native = read_raw(run.dir, "all_reduce_native", r, 1, kN);
      if (p <= 2) {
        // One addition per element whatever NCCL's algorithm: x0 (+ x1).
        require_bitwise(native, sum_ro, "native all-reduce, p <= 2");
      } else {
        // Its order is NCCL's choice: within a few roundings of the exact sum.
        for (Eigen::Index i = 0; i < kN; ++i) {
          double exact = 0.0, mag = 0.0;
          for (const auto& xr : x) {
            exact += xr(i);
            mag += std::fabs(static_cast<double>(xr(i)));
          }
          REQUIRE(std::fabs(native(i) - exact) <= 3.0 * 0x1p-24 * mag);
        }
      }
      require_bitwise(read_raw(run.dir, "all_gather_rows", r, p * kRows, kCols), rows_cat, "all_gather rows");
      require_bitwise(read_raw(run.dir, "all_gather_cols", r, kRows, p * kCols), cols_cat, "all_gather cols");
      require_bitwise(read_raw(run.dir, "reduce_scatter_rows", r, kRows / p, kCols),
                      atp::Matrix(Xsum.middleRows(r * (kRows / p), kRows / p)), "reduce_scatter rows");
      require_bitwise(read_raw(run.dir, "reduce_scatter_cols", r, kRows, kCols / p),
                      atp::Matrix(Xsum.middleCols(r * (kCols / p), kCols / p)), "reduce_scatter cols");
      require_bitwise(read_raw(run.dir, "broadcast", r, kRows, kCols), X[static_cast<std::size_t>(p - 1)],
                      "broadcast from the last rank");
    }
    atp::test::require_bitwise(read_raw(run.dir, "gather_rows", 0, p * kRows, kCols), rows_cat, "gather rows");
    atp::test::require_bitwise(read_raw(run.dir, "gather_cols", 0, kRows, p * kCols), cols_cat, "gather cols");
    if (p >= 3) {
      // Not vacuous: at p >= 3 the two orders really round differently somewhere.
      CHECK_FALSE(atp::compare_bitwise(sum_ro.data(), sum_ring.data(), kN).equal());
    }
    fs::remove_all(run.dir);
  }
}

TEST_CASE("a rank that dies is reported by rank and exit code, and its peers are stopped, not left hanging") {
  if (atp::test::skip_without_gpu()) return;
  const Run run = launch(2, "die", "ATP_NCCL_TIMEOUT_S=60", "--timeout 120 --grace 5", "--die-rank 1");
  INFO(run.log);
  CHECK(run.exit_code != 0);
  CHECK(run.log.find("exited with code 3") != std::string::npos);
  CHECK(run.log.find("rank 1 (pid") != std::string::npos);
  CHECK(run.seconds < 60.0);  // well before the 60 s NCCL deadline and the 120 s launcher timeout
  fs::remove_all(run.dir);
}

TEST_CASE("a stalled peer makes the collective fail at the communicator's deadline") {
  if (atp::test::skip_without_gpu()) return;
  const Run run = launch(2, "stall", "ATP_NCCL_TIMEOUT_S=3", "--timeout 120 --grace 2",
                         "--stall-rank 1 --stall-s 60");
  INFO(run.log);
  CHECK(run.exit_code == 4);  // rank 0's exception, not the launcher's timeout (124)
  CHECK(run.log.find("rank 0 of 2") != std::string::npos);
  CHECK(run.log.find("ATP_NCCL_TIMEOUT_S") != std::string::npos);
  CHECK(run.seconds < 40.0);
  fs::remove_all(run.dir);
}

TEST_CASE("ATP_COLLECTIVE_CHECK=1: ranks that disagree on op, count or root get an error naming both calls") {
  if (atp::test::skip_without_gpu()) return;
  const struct {
    const char* kind;
    const char* odd_call;   // what the last rank called
    const char* rank0_call; // what rank 0 called
  } drills[] = {
      {"op", "rank 1 called all_gather #0 of 1003 float32", "but rank 0 called all_reduce_rank_order #0 of 1003 float32"},
      {"count", "rank 1 called all_reduce_rank_order #0 of 1002 float32",
       "but rank 0 called all_reduce_rank_order #0 of 1003 float32"},
      {"root", "rank 1 called broadcast #0 of 1003 float32 with root 1",
       "but rank 0 called broadcast #0 of 1003 float32 with root 0"},
  };
  for (const auto& d : drills) {
    CAPTURE(d.kind);
    // Without the check an op mismatch would wait for the 60 s deadline (or worse); with it, an error at once.
    const Run run = launch(2, std::string("mismatch-") + d.kind, "ATP_COLLECTIVE_CHECK=1 ATP_NCCL_TIMEOUT_S=60",
                           "--timeout 120 --grace 5", std::string("--n 1003 --mismatch ") + d.kind);
    INFO(run.log);
    CHECK(run.exit_code == 4);  // the exception, on whichever rank the launcher reports first
    CHECK(run.log.find("ATP_COLLECTIVE_CHECK") != std::string::npos);
    CHECK(run.log.find(d.odd_call) != std::string::npos);
    CHECK(run.log.find(d.rank0_call) != std::string::npos);
    CHECK(run.log.find("ran to the end") == std::string::npos);
    CHECK(run.seconds < 50.0);  // before the communicator's 60 s deadline: no hang
    fs::remove_all(run.dir);
  }
  // The check itself must not get in the way of ranks that agree: the full suite of collectives passes under it.
  const Run ok = launch(2, "checked", "ATP_COLLECTIVE_CHECK=1 ATP_NCCL_TIMEOUT_S=120", "--timeout 300", kWorkerArgs);
  INFO(ok.log);
  CHECK(ok.exit_code == 0);
  fs::remove_all(ok.dir);
  // A bad value of the variable is an error naming it, not silently "off".
  const Run bad = launch(2, "badcheck", "ATP_COLLECTIVE_CHECK=yes", "--timeout 120 --grace 5", kWorkerArgs);
  INFO(bad.log);
  CHECK(bad.exit_code != 0);
  CHECK(bad.log.find("ATP_COLLECTIVE_CHECK='yes' is not valid") != std::string::npos);
  fs::remove_all(bad.dir);
}
