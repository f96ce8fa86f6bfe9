/// \file bench_invariant.cpp
/// \brief The price of bit-invariance on the CPU (chapter 11): the tree-ordered
/// matmul next to the canonical one, and the tree-ordered sum of an
/// all-reduce next to the rank-order one; prints time ratios.
///
/// Letters: M = tokens, N = output features, K = the reduced dimension, S =
/// tree segments (8), p = ranks. Each matmul shape is timed three ways:
///
///   canonical   atp::matmul_nt(A, B)                 one fma chain per element
///   tree        atp::matmul_nt_tree(A, B_segments)   S chains of K/S, then S - 1 adds
///                                                    (the dense layer, p = 1: the worst case)
///   tree, p=4   the same on one rank's K/4 columns   S/p = 2 segments (what a rank of a
///                                                    tp = 4 row-parallel layer runs), vs the canonical
///                                                    matmul on the same columns
///
/// and each all-reduce sum (p inputs of (M, N), the summing step of the
/// all-gather-based all-reduce) as sim::rank_order_sum vs sim::tree_order_sum.
/// Weights are split into segments once, outside the timed loop, as
/// RowParallelLinear does. Run: `BENCH=bench_invariant scripts/bench.sh`.
/// The last line is `tree matmul vs canonical: <worst ratio>` (goal <= 1.3).
/// ATP_THREADS sets the matmul's threads (ATP_THREADS=1: the single-core price,
/// timed in CPU time). Left out: the GPU (bit_invariant_tp_gpu --bench times that).
#include "atp/matmul_cpu.hpp"
#include "atp/matmul_tree.hpp"
#include "atp/rng.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/per_rank.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>  // isatty

namespace {

using atp::Matrix;
using Index = Eigen::Index;

constexpr int kSegments = 8;

struct Shape {
  Index M, N, K;
  const char* what;
};

const Shape kShapes[] = {{128, 1024, 4096, "down-proj, 128 tokens"},
                         {16, 1024, 4096, "down-proj, 16 tokens"},
                         {1, 1024, 4096, "down-proj, decode"},
                         {512, 512, 512, "square 512"}};

std::string key(const Shape& s) {
  return "M=" + std::to_string(s.M) + "/N=" + std::to_string(s.N) + "/K=" + std::to_string(s.K);
}

void bm_canonical(benchmark::State& state, Shape s, Index cols) {
  const Matrix A = atp::random_matrix(s.M, cols, 1, 0), B = atp::random_matrix(s.N, cols, 1, 1);
  for (auto _ : state) {
    Matrix C = atp::matmul_nt(A, B);
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
}

void bm_tree(benchmark::State& state, Shape s, Index cols, int segments) {
  const Matrix A = atp::random_matrix(s.M, cols, 1, 0), B = atp::random_matrix(s.N, cols, 1, 1);
  const std::vector<Matrix> B_segments = atp::split_segments(B, segments);
  for (auto _ : state) {
    Matrix C = atp::matmul_nt_tree(A, B_segments);
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
}

template <class Sum>
void bm_sum(benchmark::State& state, int p, Sum sum) {
  const auto x = atp::sim::make_per_rank(p, [](int r) -> Matrix { return atp::random_matrix(128, 1024, 3, r); });
  for (auto _ : state) {
    Matrix y = sum(x);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

// Console output as usual, plus the median time of every benchmark by name: CPU time when the
// matmul runs on one thread (on a shared machine the wall clock also counts other processes), wall
// time when it runs on several (the benchmark thread's CPU time would miss its workers).
class RecordingReporter : public benchmark::ConsoleReporter {
 public:
  explicit RecordingReporter(bool cpu_time)
      : ConsoleReporter(isatty(fileno(stdout)) ? OO_ColorTabular : OO_Tabular), cpu_time_(cpu_time) {}
  std::map<std::string, std::vector<double>> iterations;
  std::map<std::string, double> medians;

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const std::string name = run.run_name.str();
      if (run.run_type == Run::RT_Iteration)
        iterations[name].push_back(cpu_time_ ? run.GetAdjustedCPUTime() : run.GetAdjustedRealTime());
      else if (run.aggregate_name == "median")
        medians[name] = cpu_time_ ? run.GetAdjustedCPUTime() : run.GetAdjustedRealTime();
    }
    ConsoleReporter::ReportRuns(runs);
  }

  /// Median time of a benchmark (its unit), or NaN if it did not run.
  double time(const std::string& name) const {
    if (const auto m = medians.find(name); m != medians.end()) return m->second;
    const auto it = iterations.find(name);
    if (it == iterations.end() || it->second.empty()) return std::nan("");
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }

 private:
  bool cpu_time_;
};

// A benchmark of a wrong answer is worthless: the tree product must equal its definition.
bool sanity_check() {
  const Matrix A = atp::random_matrix(5, 64, 2, 0), B = atp::random_matrix(7, 64, 2, 1);
  std::vector<Matrix> parts;
  for (int s = 0; s < kSegments; ++s)
    parts.push_back(atp::matmul_nt(Matrix(A.middleCols(8 * s, 8)), Matrix(B.middleCols(8 * s, 8))));
  const Matrix want = atp::tree_sum(parts), got = atp::matmul_nt_tree(A, B, kSegments);
  if (std::memcmp(want.data(), got.data(), sizeof(float) * static_cast<std::size_t>(want.size())) != 0) {
    std::fprintf(stderr, "bench_invariant: matmul_nt_tree differs from its definition\n");
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (!sanity_check()) return 1;
  for (const Shape& s : kShapes) {
    const std::string k = key(s);
    benchmark::RegisterBenchmark(("canonical/" + k).c_str(), bm_canonical, s, s.K)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("tree/" + k).c_str(), bm_tree, s, s.K, kSegments)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("canonical_rank_p4/" + k).c_str(), bm_canonical, s, s.K / 4)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("tree_rank_p4/" + k).c_str(), bm_tree, s, s.K / 4, kSegments / 4)
        ->Unit(benchmark::kMicrosecond);
  }
  for (int p : {2, 4, 8}) {
    benchmark::RegisterBenchmark(("rank_order_sum/p=" + std::to_string(p)).c_str(), bm_sum<decltype(&atp::sim::rank_order_sum)>,
                                 p, &atp::sim::rank_order_sum)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("tree_order_sum/p=" + std::to_string(p)).c_str(), bm_sum<decltype(&atp::sim::tree_order_sum)>,
                                 p, &atp::sim::tree_order_sum)
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const int threads = atp::detail::matmul_threads();
  RecordingReporter reporter(threads == 1);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  std::printf("\n%s ratios, tree order / canonical, matmul on %d thread(s), median over repetitions (S = %d; kernel %s)\n",
              threads == 1 ? "CPU-time" : "Wall-time", threads, kSegments,
              atp::detail::matmul_kernel_description(atp::detail::matmul_kernel_in_use()).c_str());
  std::printf("%-24s %-24s %12s %14s\n", "M x N x K", "shape", "dense (p=1)", "one rank, p=4");
  double worst = 0.0;
  for (const Shape& s : kShapes) {
    const std::string k = key(s);
    const double dense = reporter.time("tree/" + k) / reporter.time("canonical/" + k);
    const double rank = reporter.time("tree_rank_p4/" + k) / reporter.time("canonical_rank_p4/" + k);
    if (std::isnan(dense) && std::isnan(rank)) continue;
    const std::string dims = std::to_string(s.M) + " x " + std::to_string(s.N) + " x " + std::to_string(s.K);
    std::printf("%-24s %-24s %12.2f %14.2f\n", dims.c_str(), s.what, dense, rank);
    if (!std::isnan(dense)) worst = std::max(worst, dense);
  }
  std::printf("%-24s %-24s %12s\n", "all-reduce sum", "p inputs of (128, 1024)", "tree / rank");
  for (int p : {2, 4, 8}) {
    const double r = reporter.time("tree_order_sum/p=" + std::to_string(p)) /
                     reporter.time("rank_order_sum/p=" + std::to_string(p));
    if (!std::isnan(r)) std::printf("%-24s %-24s %12.2f\n", ("p = " + std::to_string(p)).c_str(), "", r);
  }
  if (worst > 0.0)
    std::printf("tree matmul vs canonical: %.2f\n", worst);
  else
    std::printf("tree matmul vs canonical: n/a (the matmul benchmarks were filtered out)\n");
  return 0;
}
