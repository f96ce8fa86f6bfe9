/// \file test_gpu_ch05_attention.cpp
/// \brief Chapter 5 on real GPUs: the GPU attention layer equals the simulator
///        bit for bit, in one process (p = 1) and as p = 1, 2, 4 ranks under
///        atp-launch (every dumped tensor of the CPU binary and the GPU worker).
///
/// Needs a GPU; without one every case prints ATP-SKIP and passes (skipped).
/// Configurations: the chapter's defaults (nH=24, nKV=12: KV heads split),
/// and nH=8, nKV=2 at p=4 (each KV head replicated on two ranks), causal and not.
#include "compare_workers.hpp"
#include "gpu_test_util.hpp"

#include <doctest/doctest.h>

#include "atp/attention_weights.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/layers/parallel_attention.hpp"
#include "atp/rng.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/layers/parallel_attention.hpp"
#include "atp/sim/sharding.hpp"

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
#ifndef ATP_CH05_EXE
#error "ATP_CH05_EXE must name the chapter 5 CPU binary"
#endif
#ifndef ATP_CH05_GPU_EXE
#error "ATP_CH05_GPU_EXE must name the chapter 5 GPU worker"
#endif

namespace fs = std::filesystem;
using atp::Matrix;

namespace {

void compare_chapter(int p, const std::string& args) {
  atp::test::compare_cpu_and_gpu({ATP_LAUNCH_EXE, ATP_CH05_EXE, ATP_CH05_GPU_EXE, "ch05", {}}, p, args);
}

}  // namespace

TEST_CASE("GPU attention in one process (p = 1) equals the simulator bit for bit, every step") {
  if (atp::test::skip_without_gpu()) return;
  for (bool causal : {false, true}) {
    INFO("causal=" << causal);
    const int nH = 8, nKV = 2, d = 6, T = 5, H = nH * d;
    const auto w = atp::random_attention_weights(H, nH, nKV, d, 7, true);
    const Matrix x = atp::random_matrix(T, H, 7, 0, 1.0f);
    atp::sim::World world(1);
    const auto s = atp::sim::ParallelAttention::from_masters(w, nH, nKV, 1, {causal})
                       .forward_steps(world, atp::sim::replicate(x, 1), "attn");
    atp::cuda::Communicator comm(atp::cuda::CommunicatorConfig{});
    const auto layer = atp::cuda::ParallelAttention::from_masters(w, nH, nKV, 0, 1, {causal});
    const auto g = layer.forward_steps(comm, atp::cuda::to_device(x, comm.stream()));
    atp::test::require_bitwise(atp::cuda::to_host(g.qkv.q), s.qkv.q[0], "q");
    Matrix probs(nH * T, T);
    for (int h = 0; h < nH; ++h) probs.middleRows(h * T, T) = s.probs[0][h];
    atp::test::require_bitwise(atp::cuda::to_host(g.probs), probs, "probs");
    atp::test::require_bitwise(atp::cuda::to_host(g.context), s.context[0], "context");
    atp::test::require_bitwise(atp::cuda::to_host(g.out), s.out[0], "out");
  }
}

TEST_CASE("chapter 5 on p = 1, 2, 4 GPU ranks equals the simulator bit for bit (KV heads split)") {
  if (atp::test::skip_without_gpu()) return;
  for (int p : {1, 2, 4}) compare_chapter(p, "--causal 1");
  compare_chapter(2, "--causal 0 --seed 11");
}

TEST_CASE("chapter 5 with replicated KV heads (nH=8, nKV=2, p=4) equals the simulator bit for bit") {
  if (atp::test::skip_without_gpu()) return;
  compare_chapter(4, "--heads 8 --kv-heads 2 --hidden 48 --tokens 7 --causal 1");
}
