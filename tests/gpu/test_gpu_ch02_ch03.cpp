/// \file test_gpu_ch02_ch03.cpp
/// \brief Chapters 2 and 3 on real GPUs: the column-parallel and row-parallel
///        workers, run as p processes under atp-launch, produce the
///        simulator's bits for every tensor they dump.
///
/// Each case starts atp-ch02-column-parallel-linear-gpu or
/// atp-ch03-row-parallel-linear-gpu for p = 1, 2, 4 with --dump, reads every
/// rank's tensors back, and compares them bit for bit with the simulator's
/// layers (atp::sim::ColumnParallelLinear / RowParallelLinear) run here on
/// the same inputs. The rank-order and ring all-reduce forms must match the
/// simulator's orders of the same name; NCCL's native all-reduce only for
/// p <= 2, where every algorithm does one addition per element.
/// Needs a GPU; skips without one.
#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/layers/column_parallel_linear.hpp"
#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"
#include "gpu_test_util.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#ifndef ATP_LAUNCH_EXE
#error "ATP_LAUNCH_EXE must name the atp-launch executable"
#endif
#ifndef ATP_CH02_GPU_EXE
#error "ATP_CH02_GPU_EXE must name the chapter 2 GPU worker"
#endif
#ifndef ATP_CH03_GPU_EXE
#error "ATP_CH03_GPU_EXE must name the chapter 3 GPU worker"
#endif

namespace fs = std::filesystem;
namespace sim = atp::sim;
using atp::Matrix;
using atp::test::require_bitwise;

namespace {

constexpr std::uint64_t kSeed = 2026;

// Runs `atp-launch -p p -- worker --dump DIR args`; returns DIR, after checking the exit code.
fs::path launch(const char* worker, int p, const std::string& tag, const std::string& args) {
  const fs::path dir = fs::temp_directory_path() / ("atp-gpu-ch0203-" + tag + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path log = dir / "launch.log";
  const std::string cmd = "'" + std::string(ATP_LAUNCH_EXE) + "' -p " + std::to_string(p) + " -- '" + worker +
                          "' --dump '" + (dir / "dump").string() + "' " + args + " > '" + log.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  std::ifstream f(log);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  INFO("command: " << cmd << "\noutput:\n" << text);
  REQUIRE((status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0));
  return dir / "dump";
}

Matrix load(const fs::path& dump, int rank, const std::string& name) {
  return sim::load_tensor(dump / ("rank" + std::to_string(rank)), name);
}

std::string rank_name(const std::string& name, int r) { return sim::Dumper::rank_name(name, r); }

}  // namespace

TEST_CASE("gpu ch02: the column-parallel worker's tensors equal the simulator's, bit for bit") {
  if (atp::test::skip_without_gpu()) return;
  const int T = 4, in = 12, out = 24;
  const Matrix x = atp::random_matrix(T, in, kSeed, 0);
  const Matrix W = atp::random_matrix(out, in, kSeed, 1, 1.0f / 3.0f);
  const Matrix b = atp::random_matrix(1, out, kSeed, 2, 1.0f / 3.0f);
  for (int p : {1, 2, 4})
    for (bool gather : {false, true}) {
      CAPTURE(p);
      CAPTURE(gather);
      const fs::path dump = launch(ATP_CH02_GPU_EXE, p, "ch02-p" + std::to_string(p) + (gather ? "-g" : ""),
                                   gather ? "--gather-output" : "");
      sim::World world(p);
      const auto layer = sim::ColumnParallelLinear::from_master(W, &b, p, {.gather_output = gather});
      const auto y = layer.forward(world, sim::replicate(x, p), "fc");
      require_bitwise(load(dump, 0, "y_dense"), atp::linear(x, W, &b), "y_dense (GPU) vs atp::linear");
      for (int r = 0; r < p; ++r) {
        require_bitwise(load(dump, r, rank_name("W_r", r)), layer.weight()[r], rank_name("W_r", r));
        require_bitwise(load(dump, r, rank_name("b_r", r)), layer.bias()[r], rank_name("b_r", r));
        require_bitwise(load(dump, r, rank_name("y", r)), y[r], rank_name("y", r));
      }
    }
}

TEST_CASE("gpu ch03: the row-parallel worker's tensors equal the simulator's, bit for bit") {
  if (atp::test::skip_without_gpu()) return;
  const int T = 4, in = 24, out = 8;
  const Matrix x = atp::random_matrix(T, in, kSeed, 0);
  const Matrix W = atp::random_matrix(out, in, kSeed, 1, 1.0f / 3.0f);
  const Matrix b = atp::random_matrix(1, out, kSeed, 2, 1.0f / 3.0f);
  struct Form {
    const char* name;
    sim::ReduceOrder order;
    int max_p;  // native matches the rank order bitwise only up to p = 2
  };
  for (const Form& form : {Form{"rank-order", sim::ReduceOrder::RankOrder, 4}, Form{"ring", sim::ReduceOrder::Ring, 4},
                           Form{"native", sim::ReduceOrder::RankOrder, 2}})
    for (auto placement : {sim::BiasPlacement::AfterReduce, sim::BiasPlacement::Rank0BeforeReduce})
      for (int p : {1, 2, 4}) {
        if (p > form.max_p) continue;
        CAPTURE(p);
        CAPTURE(form.name);
        CAPTURE(sim::to_string(placement));
        const fs::path dump =
            launch(ATP_CH03_GPU_EXE, p, std::string("ch03-") + form.name + "-" + sim::to_string(placement),
                   std::string("--form ") + form.name + " --bias-placement " + sim::to_string(placement));
        sim::World world(p);
        const auto layer =
            sim::RowParallelLinear::from_master(W, &b, p, {.order = form.order, .bias_placement = placement});
        const auto x_r = sim::split_cols(x, p);
        const auto partial = layer.partial_sums(world, x_r, "proj");
        const auto y = layer.forward(world, x_r, "proj");
        require_bitwise(load(dump, 0, "y_dense"), atp::linear(x, W, &b), "y_dense (GPU) vs atp::linear");
        for (int r = 0; r < p; ++r) {
          require_bitwise(load(dump, r, rank_name("W_r", r)), layer.weight()[r], rank_name("W_r", r));
          require_bitwise(load(dump, r, rank_name("partial", r)), partial[r], rank_name("partial", r));
          require_bitwise(load(dump, r, rank_name("y", r)), y[r], rank_name("y", r));
        }
      }
}
