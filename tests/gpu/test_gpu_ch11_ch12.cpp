/// \file test_gpu_ch11_ch12.cpp
/// \brief Chapters 11 and 12 on real GPUs. atp-compare runs the CPU binary and
///        the GPU worker (p processes under atp-launch) on odd sizes and the
///        tree order, every shared tensor must be bit-identical; and the GPU's
///        own tree-order outputs must be the same bits at tp = 1, 2, 4, 8.
///
/// The canonical configurations are compared by test_gpu_compare.cpp (the
/// registry lists chapters 11 and 12); these cases add sizes where segments,
/// heads and vocabulary padding fall differently. Needs a GPU; skips without one.
#include "gpu_test_util.hpp"

#include "atp/sim/dump.hpp"
#include "atp/sim/sharding.hpp"

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
using atp::Matrix;

namespace {

/// Runs atp-compare with `args`; returns its exit status and puts its output in `text`.
int compare(const std::string& args, std::string& text) {
  const fs::path log = fs::temp_directory_path() / ("atp-test-ch11-" + std::to_string(::getpid()) + ".log");
  const int status = std::system((std::string("'") + ATP_COMPARE_EXE + "' " + args + " > '" + log.string() +
                                  "' 2>&1").c_str());
  std::ifstream in(log);
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  fs::remove(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Rank r's tensor `name` from a GPU dump kept by atp-compare.
Matrix gpu_tensor(const fs::path& keep, int r, const std::string& name) {
  const fs::path dir = keep / "gpu" / ("rank" + std::to_string(r));
  return atp::sim::load_tensor(dir, atp::sim::Dumper::rank_name(name, r));
}

const std::string kOddCh11 =
    "--set tokens=5 --set hidden=40 --set intermediate=80 --set heads=8 --set kv_heads=4 --set vocab=130 --seed 11";

}  // namespace

TEST_CASE("ch11 GPU: odd sizes, tree order, every tensor equals the simulator's at p = 1, 2, 4, 8") {
  if (atp::test::skip_without_gpu()) return;
  for (int p : {1, 2, 4, 8}) {
    std::string out;
    const int rc = compare("--chapter 11 --tp " + std::to_string(p) + " " + kOddCh11 + " --timeout 120", out);
    INFO("p = " << p << "\n" << out);
    CHECK(rc == 0);
    CHECK(out.find("0 mismatching, 0 missing") != std::string::npos);
  }
}

TEST_CASE("ch11 GPU: the GPU's tree-order outputs are the same bits at tp = 1, 2, 4, 8") {
  if (atp::test::skip_without_gpu()) return;
  const fs::path root = fs::temp_directory_path() / ("atp-test-ch11-inv-" + std::to_string(::getpid()));
  for (int p : {1, 2, 4, 8}) {
    std::string out;
    const fs::path keep = root / ("p" + std::to_string(p));
    const int rc = compare("--chapter 11 --tp " + std::to_string(p) + " --keep '" + keep.string() + "' --timeout 120", out);
    INFO(out);
    REQUIRE(rc == 0);
  }
  for (const char* name : {"gelu_output", "swiglu_output", "attention_output"})
    for (int p : {2, 4, 8})
      for (int r = 0; r < p; ++r)
        atp::test::require_bitwise(gpu_tensor(root / ("p" + std::to_string(p)), r, name), gpu_tensor(root / "p1", 0, name),
                                   std::string(name) + ", GPU rank " + std::to_string(r) + " of " + std::to_string(p));
  for (int p : {2, 4, 8}) {
    atp::sim::PerRank<Matrix> parts(p);
    for (int r = 0; r < p; ++r) parts[r] = gpu_tensor(root / ("p" + std::to_string(p)), r, "log_probs");
    atp::test::require_bitwise(atp::sim::concat_cols(parts), gpu_tensor(root / "p1", 0, "log_probs"),
                               "log_probs, GPU tp " + std::to_string(p) + " vs tp 1");
  }
  // Chapter 7's checkpoint in the tree order (the registry's decoder_steps): one set of logits bits on the GPU.
  auto rank0 = [&](int p, const std::string& name) {
    return atp::sim::load_tensor(root / ("p" + std::to_string(p)) / "gpu" / "rank0", name);
  };
  for (int p : {2, 4, 8}) {
    atp::test::require_bitwise(rank0(p, "decoder_logits"), rank0(1, "decoder_logits"),
                               "decoder_logits, GPU tp " + std::to_string(p) + " vs tp 1");
    atp::sim::PerRank<Matrix> parts(p);
    for (int r = 0; r < p; ++r) parts[r] = gpu_tensor(root / ("p" + std::to_string(p)), r, "decoder_log_probs");
    atp::test::require_bitwise(atp::sim::concat_cols(parts), gpu_tensor(root / "p1", 0, "decoder_log_probs"),
                               "decoder_log_probs, GPU tp " + std::to_string(p) + " vs tp 1");
  }
  fs::remove_all(root);
}

TEST_CASE("ch12 GPU: the SP blocks equal the simulator's, rank order and tree order, p = 1, 2, 4, 8") {
  if (atp::test::skip_without_gpu()) return;
  for (const char* order : {"rank-order", "tree"})
    for (int p : {1, 2, 4, 8}) {
      std::string out;
      const int rc = compare("--chapter 12 --tp " + std::to_string(p) + " --set order=" + order +
                                 " --set tokens=16 --set layers=1 --seed 5 --timeout 120",
                             out);
      INFO(order << ", p = " << p << "\n" << out);
      CHECK(rc == 0);
      CHECK(out.find("0 mismatching, 0 missing") != std::string::npos);
    }
}
