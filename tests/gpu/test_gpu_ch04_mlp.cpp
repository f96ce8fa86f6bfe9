/// \file test_gpu_ch04_mlp.cpp
/// \brief Chapter 4 on real GPUs: the GPU worker (atp-ch04-parallel-mlp-gpu,
///        p processes under atp-launch) and the CPU simulator
///        (atp-ch04-parallel-mlp) dump the same tensors, which must agree bit
///        for bit at p = 1, 2, 4, for the GELU MLP (tanh and erf) and SwiGLU.
///
/// Every tensor the GPU ranks dump (inputs, masters, shards downloaded from
/// the devices, intermediates, partial sums, outputs) is compared with the
/// CPU dump's tensor of the same name; every CPU tensor except the CPU-only
/// dense_intermediate and dense_output must have a GPU twin. Needs a GPU;
/// skips without one.
#include "gpu_test_util.hpp"

#include "atp/sim/dump.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#ifndef ATP_LAUNCH_EXE
#error "ATP_LAUNCH_EXE must name the atp-launch executable"
#endif
#ifndef ATP_CH04_EXE
#error "ATP_CH04_EXE must name the chapter 4 CPU binary"
#endif
#ifndef ATP_CH04_GPU_EXE
#error "ATP_CH04_GPU_EXE must name the chapter 4 GPU worker"
#endif

namespace fs = std::filesystem;

namespace {

/// Runs a shell command, its output into `log`; returns the exit status (or -1).
int run(const std::string& cmd, const fs::path& log, std::string& text) {
  const int status = std::system((cmd + " > '" + log.string() + "' 2>&1").c_str());
  std::ifstream in(log);
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
}

/// CPU and GPU runs of one configuration; every GPU tensor bitwise equal to the CPU's.
void compare_config(int p, const std::string& args) {
  const fs::path dir =
      fs::temp_directory_path() / ("atp-gpu-ch04-p" + std::to_string(p) + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string log;
  const int cpu = run("'" + std::string(ATP_CH04_EXE) + "' --tp " + std::to_string(p) + " " + args + " --dump '" +
                          (dir / "cpu").string() + "'",
                      dir / "cpu.log", log);
  INFO("CPU run:\n" << log);
  REQUIRE(cpu == 0);
  const int gpu = run("'" + std::string(ATP_LAUNCH_EXE) + "' -p " + std::to_string(p) + " --timeout 120 -- '" +
                          std::string(ATP_CH04_GPU_EXE) + "' " + args + " --dump '" + (dir / "gpu").string() + "'",
                      dir / "gpu.log", log);
  INFO("GPU run:\n" << log);
  REQUIRE(gpu == 0);

  std::set<std::string> on_gpu;
  for (int r = 0; r < p; ++r) {
    const fs::path rank_dir = dir / "gpu" / ("rank" + std::to_string(r));
    for (const auto& e : atp::sim::load_manifest(rank_dir).tensors) {
      CAPTURE(e.name);
      CHECK(on_gpu.insert(e.name).second);  // no tensor written by two ranks
      atp::test::require_bitwise(atp::sim::load_tensor(rank_dir, e.name), atp::sim::load_tensor(dir / "cpu", e.name),
                                 e.name + " (GPU vs CPU, p = " + std::to_string(p) + ")");
    }
  }
  const std::set<std::string> cpu_only = {"dense_intermediate", "dense_output"};
  for (const auto& e : atp::sim::load_manifest(dir / "cpu").tensors)
    if (!cpu_only.count(e.name)) CHECK_MESSAGE(on_gpu.count(e.name) == 1, "the GPU run lacks " << e.name);
  fs::remove_all(dir);
}

}  // namespace

TEST_CASE("ch04 GPU: the GELU MLP (tanh form) equals the simulator bit for bit at p = 1, 2, 4") {
  if (atp::test::skip_without_gpu()) return;
  for (int p : {1, 2, 4}) {
    CAPTURE(p);
    compare_config(p, "--tokens 4 --hidden 24 --intermediate 96 --mlp gelu --gelu tanh --seed 2026");
  }
}

TEST_CASE("ch04 GPU: the GELU MLP (erf form, odd sizes) equals the simulator bit for bit at p = 1, 2, 4") {
  if (atp::test::skip_without_gpu()) return;
  for (int p : {1, 2, 4}) {
    CAPTURE(p);
    compare_config(p, "--tokens 7 --hidden 40 --intermediate 156 --mlp gelu --gelu erf --seed 11");
  }
}

TEST_CASE("ch04 GPU: the SwiGLU MLP (merged gate/up) equals the simulator bit for bit at p = 1, 2, 4") {
  if (atp::test::skip_without_gpu()) return;
  for (int p : {1, 2, 4}) {
    CAPTURE(p);
    compare_config(p, "--tokens 5 --hidden 24 --intermediate 64 --mlp swiglu --seed 2026");
  }
}
