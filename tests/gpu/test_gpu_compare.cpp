/// \file test_gpu_compare.cpp
/// \brief The whole bitwise promise, end to end: atp-compare runs every
///        chapter of the registry (chapter_registry.hpp) at its canonical p on
///        the CPU simulator and on the GPU (p processes under atp-launch) and
///        must find every shared tensor bit-identical (exit status 0).
///
/// Needs a GPU; without one the comparison cases skip, and a last case checks
/// that atp-compare itself says so and exits with status 2 instead of
/// comparing nothing. Writes no golden file (that is scripts/gpu-verify.sh's job).
#include "gpu_test_util.hpp"

#include "atp/sim/chapter_registry.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#ifndef ATP_COMPARE_EXE
#error "ATP_COMPARE_EXE must name the atp-compare executable"
#endif

namespace fs = std::filesystem;

namespace {

struct Result {
  int exit_code = -1;
  std::string output;
};

/// Runs atp-compare with `args`, capturing its output.
Result compare(const std::string& args) {
  const fs::path log = fs::temp_directory_path() / ("atp-test-compare-" + std::to_string(::getpid()) + ".log");
  const std::string cmd = std::string("'") + ATP_COMPARE_EXE + "' " + args + " > '" + log.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(log);
  r.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  fs::remove(log);
  return r;
}

}  // namespace

TEST_CASE("atp-compare: every registered chapter's canonical configurations match the simulator bit for bit") {
  if (atp::test::skip_without_gpu()) return;
  // The same runs scripts/gpu-verify.sh makes, without writing golden files.
  for (const auto& spec : atp::sim::chapter_specs())
    for (int p : spec.canonical_p) {
      const Result r = compare("--chapter " + std::to_string(spec.number) + " --tp " + std::to_string(p) +
                               " --timeout 120");
      INFO("chapter " << spec.number << ", p = " << p << "\n" << r.output);
      CHECK(r.exit_code == 0);
      CHECK(r.output.find("0 mismatching, 0 missing") != std::string::npos);
    }
}

TEST_CASE("atp-compare: chapter 1 on the GPU equals the simulator bit for bit at p = 1, 2, 4") {
  if (atp::test::skip_without_gpu()) return;
  for (int p : {1, 2, 4}) {
    const Result r = compare("--chapter 1 --tp " + std::to_string(p) + " --timeout 120");
    INFO("p = " << p << "\n" << r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("all_reduce_ring.rank0") != std::string::npos);
    CHECK(r.output.find("0 mismatching, 0 missing") != std::string::npos);
  }
}

TEST_CASE("atp-compare: chapter 1 with an uneven shape (no reduce-scatter at p = 4) still matches") {
  if (atp::test::skip_without_gpu()) return;
  const Result r = compare("--chapter 1 --tp 4 --set rows=3 --set cols=7 --seed 11 --timeout 120");
  INFO(r.output);
  CHECK(r.exit_code == 0);
}

TEST_CASE("atp-compare: chapter 0's device functions reproduce the CPU's figure data") {
  if (atp::test::skip_without_gpu()) return;
  const Result r = compare("--chapter 0 --tp 2");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("ulp_sweep_exp_error") != std::string::npos);
}

TEST_CASE("atp-compare: without a GPU it says so and exits with status 2") {
  int count = 0;
  if (cudaGetDeviceCount(&count) == cudaSuccess && count > 0) {
    std::cout << "ATP-SKIP: this machine has a GPU; the no-GPU message cannot be seen here" << std::endl;
    return;
  }
  const Result r = compare("--chapter 1 --tp 2");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("no CUDA device found") != std::string::npos);
}
