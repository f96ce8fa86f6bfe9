/// \file test_gpu_ch07_decoder.cpp
/// \brief Chapter 7 on GPUs: the rotary numerics on the device against the
///        host, and the GPU worker under atp-launch against the simulator, bit
///        for bit: generated ids, every step's logits and every rank's KV
///        caches, for the shipped Llama checkpoint (p = 1, 2, 4, 8; rank-order
///        and ring all-reduce; logits gathered to rank 0) and a synthetic GPT
///        (biases, LayerNorm, learned positions, untied head, padded FFN).
///        Needs a GPU; skips without one.
#include "gpu_test_util.hpp"

#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/rotary_kernels.hpp"
#include "atp/rotary.hpp"
#include "atp/sim/checkpoint/safetensors.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/models/generation.hpp"
#include "atp/sim/models/parallel_decoder.hpp"
#include "atp/sim/models/synthetic_decoder.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#ifndef ATP_LAUNCH_EXE
#error "ATP_LAUNCH_EXE must name the atp-launch executable"
#endif
#ifndef ATP_CH07_GPU_EXE
#error "ATP_CH07_GPU_EXE must name the chapter 7 GPU worker"
#endif

namespace fs = std::filesystem;
namespace sim = atp::sim;
using atp::Matrix;
using atp::test::require_bitwise;

namespace {

const std::string kFortune = ATP_SOURCE_DIR "/data/fortune-llama.bin";

struct Run {
  int exit_code = -1;
  std::string log;
  fs::path dir;
};

/// The GPU worker on p ranks with `args`, dumping into a fresh directory.
Run launch(int p, const std::string& tag, const std::string& args) {
  Run run;
  run.dir = fs::temp_directory_path() / ("atp-gpu-ch07-" + tag + "-p" + std::to_string(p) + "-" +
                                         std::to_string(::getpid()));
  fs::remove_all(run.dir);
  fs::create_directories(run.dir);
  const fs::path log = run.dir / "launch.log";
  const std::string cmd = "ATP_NCCL_TIMEOUT_S=120 '" + std::string(ATP_LAUNCH_EXE) + "' -p " + std::to_string(p) +
                          " --timeout 300 -- '" + std::string(ATP_CH07_GPU_EXE) + "' --tp " + std::to_string(p) + " " +
                          args + " --dump '" + run.dir.string() + "' > '" + log.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  run.exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  std::ifstream f(log);
  run.log.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return run;
}

/// Runs the simulator on the same configuration and compares every tensor the GPU dumped.
void check_against_simulator(const Run& run, const sim::Checkpoint& checkpoint, int p,
                             const std::vector<std::int64_t>& prompt, int steps, sim::DecoderOptions options) {
  INFO(run.log);
  REQUIRE(run.exit_code == 0);
  sim::World world(p);
  const auto decoder = sim::ParallelDecoder::load(checkpoint, p, options);
  sim::DecoderState state =
      decoder.new_state(sim::generation_positions(static_cast<std::int64_t>(prompt.size()), steps));
  const auto result = sim::greedy_generate(world, decoder, state, prompt, steps);
  const fs::path rank0 = run.dir / "rank0";
  CHECK(sim::load_tensor_i64(rank0, "prompt") == prompt);
  CHECK(sim::load_tensor_i64(rank0, "generated") == result.generated);
  for (const auto& s : result.steps)
    require_bitwise(sim::load_tensor(rank0, "logits.step" + std::to_string(s.step)), s.logits, "logits of a step");
  for (int r = 0; r < p; ++r)
    for (int l = 0; l < checkpoint.config().layers; ++l) {
      CAPTURE(r);
      CAPTURE(l);
      const fs::path dir = run.dir / ("rank" + std::to_string(r));
      const std::string block = ".block" + std::to_string(l);
      require_bitwise(sim::load_tensor(dir, sim::Dumper::rank_name("kv_cache.k" + block, r)), state.cache(l).keys(r),
                      "cached keys (after RoPE)");
      require_bitwise(sim::load_tensor(dir, sim::Dumper::rank_name("kv_cache.v" + block, r)),
                      state.cache(l).values(r), "cached values");
    }
  fs::remove_all(run.dir);
}

}  // namespace

TEST_CASE("rotary on the device: sincos and the cos/sin cache have the host's bits") {
  if (atp::test::skip_without_gpu()) return;
  namespace cu = atp::cuda;
  std::vector<float> x;
  for (int i = 0; i < (1 << 20); ++i) x.push_back(-1000.0f + 2000.0f * static_cast<float>(i) / (1 << 20));
  for (float v : {0.0f, -0.0f, 1e-30f, 0x1.0p+20f, -0x1.0p+20f, 0x1.0p+23f}) x.push_back(v);
  const auto dx = cu::DeviceBuffer<float>::from_host(x);
  cu::DeviceBuffer<float> ds(x.size()), dc(x.size());
  cu::launch_sincos(dx.data(), ds.data(), dc.data(), x.size(), nullptr);
  const std::vector<float> s = ds.to_host(), c = dc.to_host();
  std::vector<float> hs(x.size()), hc(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) atp::sincos(x[i], &hs[i], &hc[i]);
  atp::test::require_bitwise(s.data(), hs.data(), x.size(), "device sin vs host sin");
  atp::test::require_bitwise(c.data(), hc.data(), x.size(), "device cos vs host cos");
  for (int d : {8, 128})
    for (float theta : {10000.0f, 500000.0f}) {
      const int S = 4096, half = d / 2;
      cu::DeviceBuffer<float> cos(static_cast<std::size_t>(S) * half), sin(static_cast<std::size_t>(S) * half);
      cu::launch_rope_cos_sin_cache(cos.data(), sin.data(), S, d, theta, nullptr);
      const sim::RotaryEmbedding host(d, S, theta, atp::RopeStyle::Interleaved);
      atp::test::require_bitwise(cos.to_host().data(), host.cos().data(), cos.size(), "cos cache");
      atp::test::require_bitwise(sin.to_host().data(), host.sin().data(), sin.size(), "sin cache");
    }
}

TEST_CASE("chapter 7 on p = 1, 2, 4, 8 GPU ranks: ids, every step's logits and every KV cache equal the simulator's") {
  if (atp::test::skip_without_gpu()) return;
  const sim::Checkpoint checkpoint = sim::Checkpoint::open(kFortune);
  const std::vector<std::int64_t> prompt{1, 84, 104, 101, 32};
  const std::string args = "--checkpoint '" + kFortune + "' --prompt-ids 1,84,104,101,32 --steps 6";
  for (int p : {1, 2, 4, 8}) {
    CAPTURE(p);
    check_against_simulator(launch(p, "llama", args), checkpoint, p, prompt, 6, {});
  }
  // NCCL's ring order, built from sends and receives, and the logits gathered to rank 0 (which broadcasts the id).
  check_against_simulator(launch(4, "ring", args + " --reduce-order ring"), checkpoint, 4, prompt, 6,
                          {sim::ReduceOrder::Ring, sim::LogitsCollective::AllGather});
  check_against_simulator(launch(2, "gather", args + " --logits gather"), checkpoint, 2, prompt, 6,
                          {sim::ReduceOrder::RankOrder, sim::LogitsCollective::Gather});
}

TEST_CASE("a GPT-style decoder on p = 2, 4, 8 GPU ranks equals the simulator, bit for bit") {
  if (atp::test::skip_without_gpu()) return;
  const sim::Checkpoint checkpoint =
      sim::synthetic_decoder_checkpoint(sim::small_decoder_config(sim::DecoderArch::GPT, 2), 2026);
  const fs::path file = fs::temp_directory_path() / ("atp-gpu-ch07-gpt-" + std::to_string(::getpid()) + ".safetensors");
  {
    const std::vector<std::byte> bytes = sim::write_decoder_safetensors(checkpoint);
    std::ofstream f(file, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  const std::vector<std::int64_t> prompt{1, 40, 41, 7};
  for (int p : {2, 4, 8}) {
    CAPTURE(p);
    check_against_simulator(launch(p, "gpt", "--checkpoint '" + file.string() + "' --prompt-ids 1,40,41,7 --steps 5"),
                            checkpoint, p, prompt, 5, {});
  }
  fs::remove(file);
}
