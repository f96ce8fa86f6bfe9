/// \file test_gpu_ch08_vision.cpp
/// \brief Chapter 8 on real GPUs: the GPU vision transformer equals the
///        simulator's bit for bit in one process (p = 1), and the three
///        strategies on p = 1, 2, 3, 4 ranks under atp-launch equal the CPU
///        binary's every dumped tensor (p = 3: B falls back to C on both sides).
///
/// Needs a GPU; without one every case prints ATP-SKIP and passes (skipped).
#include "gpu_test_util.hpp"

#include <doctest/doctest.h>

#include "atp/cuda/communicator.hpp"
#include "atp/cuda/vision/encoder_strategies.hpp"
#include "atp/rng.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/vision/encoder_strategies.hpp"
#include "atp/sim/world.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#ifndef ATP_LAUNCH_EXE
#error "ATP_LAUNCH_EXE must name atp-launch"
#endif
#ifndef ATP_CH08_EXE
#error "ATP_CH08_EXE must name the chapter 8 CPU binary"
#endif
#ifndef ATP_CH08_GPU_EXE
#error "ATP_CH08_GPU_EXE must name the chapter 8 GPU worker"
#endif

namespace fs = std::filesystem;
using atp::Matrix;

namespace {

std::pair<int, std::string> run(const std::string& cmd, const fs::path& log) {
  const int status = std::system((cmd + " > '" + log.string() + "' 2>&1").c_str());
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), text};
}

/// Runs the CPU binary and the GPU worker on p ranks with `args`; every GPU
/// tensor must have a CPU twin with the same bits, and every CPU tensor a GPU
/// twin except features_dense (a host-only comparison).
void compare_chapter(int p, const std::string& args) {
  const fs::path work = fs::temp_directory_path() / ("atp-test-ch08-" + std::to_string(::getpid()));
  fs::remove_all(work);
  fs::create_directories(work);
  const std::string tp = " --tp " + std::to_string(p) + " ";
  const auto cpu = run(std::string("'") + ATP_CH08_EXE + "'" + tp + args + " --dump '" + (work / "cpu").string() + "'",
                       work / "cpu.log");
  INFO("CPU run:\n" << cpu.second);
  REQUIRE(cpu.first == 0);
  const auto gpu = run(std::string("'") + ATP_LAUNCH_EXE + "' -p " + std::to_string(p) + " --timeout 120 -- '" +
                           ATP_CH08_GPU_EXE + "'" + tp + args + " --dump '" + (work / "gpu").string() + "'",
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
    if (e.name == "features_dense") continue;
    INFO("p=" << p << " " << args << ": " << e.name);
    REQUIRE(gpu_dirs.count(e.name) == 1);
    atp::test::require_bitwise(atp::sim::load_tensor(gpu_dirs[e.name], e.name),
                               atp::sim::load_tensor(work / "cpu", e.name), e.name);
    gpu_dirs.erase(e.name);
  }
  CHECK(gpu_dirs.empty());  // no GPU tensor without a CPU twin
  fs::remove_all(work);
}

}  // namespace

TEST_CASE("GPU vision transformer in one process (p = 1) equals the simulator bit for bit, every step") {
  if (atp::test::skip_without_gpu()) return;
  atp::VitConfig c;
  c.hidden = 24;
  c.heads = 4;
  c.intermediate = 40;
  c.patch = 2;
  c.max_grid = 4;
  c.patch_bias = true;
  const atp::VitWeights w = atp::random_vit_weights(c, 3);
  const std::vector<atp::Image> images = {atp::random_image(3, 4, 6, 3, 1), atp::random_image(3, 2, 2, 3, 2)};
  atp::sim::World world(1);
  const auto s = atp::sim::ParallelVisionTransformer::from_master(c, w, 1).forward_steps(world, images, "vit");
  atp::cuda::Communicator comm(atp::cuda::CommunicatorConfig{});
  const auto g = atp::cuda::ParallelVisionTransformer::from_master(c, w, 0, 1).forward_steps(comm, images);
  atp::test::require_bitwise(atp::cuda::to_host(g.embedded), s.embedded[0], "embedded");
  for (std::size_t l = 0; l < s.blocks.size(); ++l)
    atp::test::require_bitwise(atp::cuda::to_host(g.blocks[l]), s.blocks[l][0], "block " + std::to_string(l));
  atp::test::require_bitwise(atp::cuda::to_host(g.out), s.out[0], "out");
}

TEST_CASE("chapter 8 on p = 1, 2, 4 GPU ranks equals the simulator bit for bit (all three strategies)") {
  if (atp::test::skip_without_gpu()) return;
  for (int p : {1, 2, 4}) compare_chapter(p, "--strategy all");
}

TEST_CASE("chapter 8 at p = 3 (B falls back to C) and with fewer images than ranks equals the simulator") {
  if (atp::test::skip_without_gpu()) return;
  compare_chapter(3, "--strategy all --seed 11");
  compare_chapter(4, "--strategy data --images 16x16 --class-token 0 --patch-bias 1");
}
