/// \file compare_workers.hpp
/// \brief The GPU tests' one way to run a chapter's CPU binary and its GPU
///        worker on p ranks (under atp-launch) with the same options and
///        compare every dumped tensor bit for bit.
///
/// Every tensor must exist on both sides (except those named host-only: a
/// CPU-side reference such as the dense encoder), no tensor may come from two
/// GPU ranks, float32 tensors compare bit for bit and int64 ones exactly.
/// Used by the chapter 5, 8 and 9 GPU tests; atp-compare does the same for
/// the registry's canonical configurations, these tests for other options.
/// Leaves out: launching through mpirun (atp-compare's --launcher does).
#pragma once

#include "gpu_test_util.hpp"

#include "atp/sim/dump.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <utility>

namespace atp::test {

/// Runs a shell command with output to `log`; returns its exit status and the log text.
inline std::pair<int, std::string> run_logged(const std::string& cmd, const std::filesystem::path& log) {
  const int status = std::system((cmd + " > '" + log.string() + "' 2>&1").c_str());
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), text};
}

/// One comparison: which programs, how many ranks, which options.
struct WorkerComparison {
  std::string launch_exe;           ///< atp-launch
  std::string cpu_exe;              ///< the chapter's CPU binary
  std::string gpu_exe;              ///< its GPU worker
  std::string tag;                  ///< names the work folder, e.g. "ch05"
  std::set<std::string> host_only;  ///< CPU tensors with no GPU twin by design
};

/// Runs `c.cpu_exe` and `c.gpu_exe` on p ranks with `args` (plus --tp and --dump) and requires
/// every tensor to match as described in the file comment.
inline void compare_cpu_and_gpu(const WorkerComparison& c, int p, const std::string& args) {
  namespace fs = std::filesystem;
  const fs::path work = fs::temp_directory_path() / ("atp-test-" + c.tag + "-" + std::to_string(::getpid()));
  fs::remove_all(work);
  fs::create_directories(work);
  const std::string tp = " --tp " + std::to_string(p) + " ";
  const auto cpu = run_logged("'" + c.cpu_exe + "'" + tp + args + " --dump '" + (work / "cpu").string() + "'",
                              work / "cpu.log");
  INFO("CPU run:\n" << cpu.second);
  REQUIRE(cpu.first == 0);
  const auto gpu = run_logged("'" + c.launch_exe + "' -p " + std::to_string(p) + " --timeout 120 -- '" + c.gpu_exe +
                                  "'" + tp + args + " --dump '" + (work / "gpu").string() + "'",
                              work / "gpu.log");
  INFO("GPU run:\n" << gpu.second);
  REQUIRE(gpu.first == 0);
  std::map<std::string, fs::path> gpu_dirs;
  for (int r = 0; r < p; ++r) {
    const fs::path dir = work / "gpu" / ("rank" + std::to_string(r));
    for (const auto& e : atp::sim::load_manifest(dir).tensors) {
      REQUIRE_MESSAGE(gpu_dirs.count(e.name) == 0, "tensor " << e.name << " dumped by two GPU ranks");
      gpu_dirs[e.name] = dir;
    }
  }
  for (const auto& e : atp::sim::load_manifest(work / "cpu").tensors) {
    if (c.host_only.count(e.name) != 0) continue;
    INFO("p=" << p << " " << args << ": " << e.name);
    REQUIRE(gpu_dirs.count(e.name) == 1);
    if (e.dtype == "int64") {
      CHECK(atp::sim::load_tensor_i64(gpu_dirs[e.name], e.name) == atp::sim::load_tensor_i64(work / "cpu", e.name));
    } else {
      require_bitwise(atp::sim::load_tensor(gpu_dirs[e.name], e.name), atp::sim::load_tensor(work / "cpu", e.name),
                      e.name);
    }
    gpu_dirs.erase(e.name);
  }
  CHECK_MESSAGE(gpu_dirs.empty(), gpu_dirs.size() << " GPU tensor(s) without a CPU twin");
  fs::remove_all(work);
}

}  // namespace atp::test
