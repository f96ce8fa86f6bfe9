/// \file test_gpu_ch09_vlm.cpp
/// \brief Chapter 9 on real GPUs: the projectors and the merge in one process
///        (p = 1) equal the simulator's bit for bit, and the whole VLM on
///        p = 1, 2, 4 ranks under atp-launch equals the CPU binary's every
///        dumped tensor (features, merged embeddings, generated ids, logits).
///
/// Needs a GPU; without one every case prints ATP-SKIP and passes (skipped).
#include "compare_workers.hpp"
#include "gpu_test_util.hpp"

#include <doctest/doctest.h>

#include "atp/cuda/communicator.hpp"
#include "atp/cuda/vision/multimodal_merge.hpp"
#include "atp/cuda/vision/projector.hpp"
#include "atp/rng.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/vision/multimodal_merge.hpp"
#include "atp/sim/vision/projector.hpp"

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
#ifndef ATP_CH09_EXE
#error "ATP_CH09_EXE must name the chapter 9 CPU binary"
#endif
#ifndef ATP_CH09_GPU_EXE
#error "ATP_CH09_GPU_EXE must name the chapter 9 GPU worker"
#endif

namespace fs = std::filesystem;
using atp::Matrix;

namespace {

void compare_chapter(int p, const std::string& args) {
  atp::test::compare_cpu_and_gpu({ATP_LAUNCH_EXE, ATP_CH09_EXE, ATP_CH09_GPU_EXE, "ch09", {}}, p, args);
}

}  // namespace

TEST_CASE("GPU projectors and merge in one process (p = 1) equal the simulator bit for bit") {
  if (atp::test::skip_without_gpu()) return;
  atp::cuda::Communicator comm(atp::cuda::CommunicatorConfig{});
  const Matrix x = atp::random_matrix(8, 12, 5, 1);
  const auto llava = atp::random_llava_projector(12, 16, 5);
  atp::sim::World w(1);
  const Matrix want = atp::sim::ParallelLlavaProjector::from_master(llava, 1).forward(w, atp::sim::replicate(x, 1), "p")[0];
  const auto got = atp::cuda::ParallelLlavaProjector::from_master(llava, 0, 1).forward(comm, atp::cuda::to_device(x));
  atp::test::require_bitwise(atp::cuda::to_host(got), want, "LLaVA projector");
  const auto merger = atp::random_patch_merger(12, 16, 2, 5);
  const std::vector<atp::PatchGrid> grids = {{2, 2}, {2, 2}};
  const Matrix want_m =
      atp::sim::ParallelPatchMerger::from_master(merger, 2, 1e-6f, 1).forward(w, atp::sim::replicate(x, 1), grids, "m")[0];
  const auto got_m =
      atp::cuda::ParallelPatchMerger::from_master(merger, 2, 1e-6f, 0, 1).forward(comm, atp::cuda::to_device(x), grids);
  atp::test::require_bitwise(atp::cuda::to_host(got_m), want_m, "patch merger");
  const std::vector<std::int64_t> ids = {1, 0, 5, 0};
  const Matrix text = atp::random_matrix(4, 16, 5, 2);
  const Matrix merged = atp::sim::merge_multimodal_embeddings(text, ids, 0, want_m);
  atp::test::require_bitwise(
      atp::cuda::to_host(atp::cuda::merge_multimodal_embeddings(atp::cuda::to_device(text), ids, 0,
                                                                atp::cuda::to_device(want_m), comm.stream())),
      merged, "merge");
}

TEST_CASE("chapter 9 on p = 1, 2, 4 GPU ranks equals the simulator bit for bit (ids, logits, every tensor)") {
  if (atp::test::skip_without_gpu()) return;
  for (int p : {1, 2, 4}) compare_chapter(p, "--steps 8");
  compare_chapter(2, "--steps 4 --projector merger --seed 11");
}
