/// \file test_gpu_ch08_vision.cpp
/// \brief Chapter 8 on real GPUs: the GPU vision transformer equals the
///        simulator's bit for bit in one process (p = 1), and the three
///        strategies on p = 1, 2, 3, 4 ranks under atp-launch equal the CPU
///        binary's every dumped tensor (p = 3: B falls back to C on both sides).
///
/// Needs a GPU; without one every case prints ATP-SKIP and passes (skipped).
#include "compare_workers.hpp"
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

void compare_chapter(int p, const std::string& args) {
  atp::test::compare_cpu_and_gpu({ATP_LAUNCH_EXE, ATP_CH08_EXE, ATP_CH08_GPU_EXE, "ch08", {"features_dense"}}, p, args);
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
