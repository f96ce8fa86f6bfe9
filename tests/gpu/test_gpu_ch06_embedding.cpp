/// \file test_gpu_ch06_embedding.cpp
/// \brief Chapter 6 on GPUs: the GPU worker under atp-launch for p = 1, 2, 4
///        against the simulator, bit for bit (masks, partial rows, embeddings
///        in rank and ring order, local and gathered logits, argmax pairs and
///        ids), native ncclAllReduce embeddings bitwise equal to the dense
///        lookup, and the lookup kernel's out-of-range flag. Needs a GPU;
///        skips without one.
#include "../../chapters/06-vocab-parallel-embedding/vocab_inputs.hpp"
#include "gpu_test_util.hpp"

#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/embedding_kernels.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#ifndef ATP_LAUNCH_EXE
#error "ATP_LAUNCH_EXE must name the atp-launch executable"
#endif
#ifndef ATP_CH06_GPU_EXE
#error "ATP_CH06_GPU_EXE must name the chapter 6 GPU worker"
#endif

namespace fs = std::filesystem;
namespace sim = atp::sim;
using atp::Matrix;
using atp::test::require_bitwise;

namespace {

constexpr std::int64_t kV = 150, kH = 8, kT = 6;
constexpr std::uint64_t kSeed = 2026;

struct Run {
  int exit_code = -1;
  std::string log;
  fs::path dir;
};

Run launch(int p, const std::string& logits) {
  Run run;
  run.dir = fs::temp_directory_path() / ("atp-gpu-ch06-p" + std::to_string(p) + "-" + logits + "-" +
                                         std::to_string(::getpid()));
  fs::remove_all(run.dir);
  fs::create_directories(run.dir);
  const fs::path log = run.dir / "launch.log";
  const std::string cmd = "ATP_NCCL_TIMEOUT_S=120 '" + std::string(ATP_LAUNCH_EXE) + "' -p " + std::to_string(p) +
                          " --timeout 300 -- '" + std::string(ATP_CH06_GPU_EXE) + "' --vocab " + std::to_string(kV) +
                          " --hidden " + std::to_string(kH) + " --tokens " + std::to_string(kT) + " --seed " +
                          std::to_string(kSeed) + " --logits " + logits + " --dump '" + run.dir.string() + "' > '" +
                          log.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  run.exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  std::ifstream f(log);
  run.log.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return run;
}

Matrix rank_tensor(const fs::path& dir, int r, const std::string& name) {
  return sim::load_tensor(dir / ("rank" + std::to_string(r)), sim::Dumper::rank_name(name, r));
}

}  // namespace

TEST_CASE("chapter 6 on p = 1, 2, 4 GPU ranks matches the simulator bit for bit") {
  if (atp::test::skip_without_gpu()) return;
  const Matrix table = atp::ch06::make_table(kV, kH, kSeed);
  const Matrix x = atp::ch06::make_hidden(kT, kH, kSeed);
  const auto ids = atp::ch06::make_ids(kT, kV, kSeed);
  const Matrix dense = sim::embedding_lookup(table, ids);
  for (int p : {1, 2, 4})
    for (const std::string logits : {"all-gather", "gather"}) {
      CAPTURE(p);
      CAPTURE(logits);
      const Run run = launch(p, logits);
      INFO(run.log);
      REQUIRE(run.exit_code == 0);
      const auto emb = sim::VocabParallelEmbedding::from_master(table, p);
      const auto head = sim::ParallelLMHead::tied(emb);
      sim::World world(p);
      const auto partial = emb.partial_embeddings(world, ids, "e");
      const auto masks = emb.masks(ids);
      const auto ring = sim::all_reduce_ring(world, partial, "e");
      const auto local = head.local_logits(world, sim::replicate(x, p), "lm");
      const auto full = head.gather_logits(world, local, sim::parse_logits_collective(logits), "lm");
      const auto greedy = head.argmax(world, local, "lm");
      for (int r = 0; r < p; ++r) {
        CAPTURE(r);
        require_bitwise(rank_tensor(run.dir, r, "embedding.weight"), emb.weight()[r], "shard");
        require_bitwise(rank_tensor(run.dir, r, "mask"), masks[r], "mask");
        require_bitwise(rank_tensor(run.dir, r, "partial"), partial[r], "partial rows");
        require_bitwise(rank_tensor(run.dir, r, "embeddings"), dense, "rank-order embeddings");
        require_bitwise(rank_tensor(run.dir, r, "embeddings_ring"), ring[r], "ring embeddings");
        // ncclAllReduce's own order: still one value plus p-1 exact zeros per element.
        require_bitwise(rank_tensor(run.dir, r, "gpu.embeddings_native"), dense, "native ncclAllReduce embeddings");
        require_bitwise(rank_tensor(run.dir, r, "local_logits"), local[r], "local logits");
        require_bitwise(rank_tensor(run.dir, r, "argmax_pairs"),
                        sim::local_argmax_pairs(local[r], head.range(r), kV), "argmax pairs");
        if (logits == "all-gather") require_bitwise(rank_tensor(run.dir, r, "logits"), full[r], "logits");
      }
      if (logits == "gather") require_bitwise(sim::load_tensor(run.dir / "rank0", "logits"), full[0], "logits");
      const Matrix argmax = sim::load_tensor(run.dir / "rank0", "argmax");
      for (std::int64_t t = 0; t < kT; ++t) CHECK(static_cast<std::int64_t>(argmax(t, 0)) == greedy[0][t]);
      CHECK(greedy[0] == sim::dense_argmax(atp::matmul_nt(x, table)));
      fs::remove_all(run.dir);
    }
}

TEST_CASE("the lookup kernel never reads out of bounds and flags the first bad position") {
  if (atp::test::skip_without_gpu()) return;
  namespace cu = atp::cuda;
  const std::int64_t V = 150;
  const int n = 48, H = 4;
  const Matrix shard = sim::vocab_shard(atp::ch06::make_table(V, H, 3), 4, 3);  // ids [144, 150)
  const auto d_shard = cu::to_device(shard);
  const std::vector<std::int64_t> ids{145, 1000000, 146, -7};
  const auto d_ids = cu::DeviceBuffer<std::int64_t>::from_host(ids);
  cu::DeviceMatrix out(static_cast<std::int64_t>(ids.size()), H);
  cu::DeviceBuffer<int> bad(1);
  const int none = INT_MAX;
  bad.upload(&none, 1);
  cu::launch_vocab_embedding_lookup(d_shard.data(), n, H, d_ids.data(), static_cast<int>(ids.size()), 144, 150, V,
                                    out.data(), bad.data(), nullptr);
  int first = 0;
  bad.download(&first, 1);
  CHECK(first == 1);
  const Matrix got = cu::to_host(out);
  require_bitwise(Matrix(got.row(0)), Matrix(shard.row(1)), "id 145");
  require_bitwise(Matrix(got.row(2)), Matrix(shard.row(2)), "id 146");
  CHECK(got.row(1).isZero(0.0f));
  CHECK(got.row(3).isZero(0.0f));
}
