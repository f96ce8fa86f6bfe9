/// \file bench_matmul.cpp
/// \brief GFLOP/s of the deterministic CPU matmul next to Eigen's own float
/// GEMM, single-threaded, on the same shapes; prints the ratio table.
///
/// Letters: M = output rows (tokens), N = output columns, K = reduced dim.
/// Each shape is timed four ways: atp::matmul_nt (A B^T, the linear-layer
/// shape) against Eigen's `C.noalias() = A * B.transpose()`, and
/// atp::matmul_nn (A B) against `C.noalias() = A * B`. Eigen is free to sum
/// in any order; ours must keep the canonical fma order (NUMERICS.md
/// section 2), so the ratio is the price of determinism.
/// Run: `scripts/bench.sh` (Release build), extra arguments go to Google
/// Benchmark, e.g. `scripts/bench.sh --benchmark_repetitions=5`.
/// The last line is `matmul vs Eigen: <ratio>` for 1024^3 (A B^T).
/// Left out: threads, bf16, comparisons with vendor BLAS.
#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>  // isatty

namespace {

using atp::Matrix;
using Index = Eigen::Index;

struct Shape {
  Index M, N, K;
  const char* what;
};

// Square sizes that cross the cache levels, and one transformer-ish MLP
// up-projection: 128 tokens, hidden 1024, intermediate 4096.
const Shape kShapes[] = {{256, 256, 256, "square"},
                         {512, 512, 512, "square"},
                         {1024, 1024, 1024, "square"},
                         {128, 4096, 1024, "MLP up-proj, 128 tokens"}};

std::string shape_key(const Shape& s) {
  return "M=" + std::to_string(s.M) + "/N=" + std::to_string(s.N) + "/K=" + std::to_string(s.K);
}

void set_flops(benchmark::State& state, const Shape& s) {
  // 2 M N K flops per call; an iteration-invariant rate divides by the
  // time, and the console prints it with an SI prefix ("75.3G/s").
  state.counters["FLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(s.M) * static_cast<double>(s.N) * static_cast<double>(s.K),
      benchmark::Counter::kIsIterationInvariantRate);
}

void bm_atp_nt(benchmark::State& state, Shape s) {
  const Matrix A = atp::random_matrix(s.M, s.K, 1, 0);
  const Matrix B = atp::random_matrix(s.N, s.K, 1, 1);
  for (auto _ : state) {
    Matrix C = atp::matmul_nt(A, B);
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
}

void bm_eigen_nt(benchmark::State& state, Shape s) {
  const Matrix A = atp::random_matrix(s.M, s.K, 1, 0);
  const Matrix B = atp::random_matrix(s.N, s.K, 1, 1);
  Matrix C(s.M, s.N);
  for (auto _ : state) {
    C.noalias() = A * B.transpose();
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
}

void bm_atp_nn(benchmark::State& state, Shape s) {
  const Matrix A = atp::random_matrix(s.M, s.K, 1, 0);
  const Matrix B = atp::random_matrix(s.K, s.N, 1, 1);
  for (auto _ : state) {
    Matrix C = atp::matmul_nn(A, B);
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
}

void bm_eigen_nn(benchmark::State& state, Shape s) {
  const Matrix A = atp::random_matrix(s.M, s.K, 1, 0);
  const Matrix B = atp::random_matrix(s.K, s.N, 1, 1);
  Matrix C(s.M, s.N);
  for (auto _ : state) {
    C.noalias() = A * B;
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
}

// Console output as usual, plus the GFLOP/s of every run, keyed by name, so
// main() can print ratios measured in this very process.
class RecordingReporter : public benchmark::ConsoleReporter {
 public:
  // A custom reporter does not see --benchmark_color: colour only on a terminal.
  RecordingReporter() : ConsoleReporter(isatty(fileno(stdout)) ? OO_ColorTabular : OO_Tabular) {}

  std::map<std::string, std::vector<double>> iterations;  // one value per repetition
  std::map<std::string, double> medians;                  // from --benchmark_repetitions

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const auto it = run.counters.find("FLOP/s");
      if (run.error_occurred || it == run.counters.end()) continue;
      const std::string name = run.run_name.str();
      if (run.run_type == Run::RT_Iteration)
        iterations[name].push_back(it->second.value * 1e-9);
      else if (run.aggregate_name == "median")
        medians[name] = it->second.value * 1e-9;
    }
    ConsoleReporter::ReportRuns(runs);
  }

  /// Median GFLOP/s of a benchmark, or NaN if it did not run (filtered out).
  double gflops(const std::string& name) const {
    if (const auto m = medians.find(name); m != medians.end()) return m->second;
    const auto it = iterations.find(name);
    if (it == iterations.end() || it->second.empty()) return std::nan("");
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  }
};

// A benchmark of a wrong answer is worthless: check one shape bitwise
// against the naive loop before timing anything.
bool sanity_check() {
  const Index M = 67, N = 131, K = 300;
  const Matrix A = atp::random_matrix(M, K, 2, 0);
  const Matrix B = atp::random_matrix(N, K, 2, 1);
  const Matrix C = atp::matmul_nt(A, B);
  for (Index i = 0; i < M; ++i)
    for (Index j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (Index k = 0; k < K; ++k) acc = std::fma(A(i, k), B(j, k), acc);
      if (std::memcmp(&acc, &C(i, j), sizeof acc) != 0) {
        std::fprintf(stderr, "bench_matmul: matmul_nt differs from the naive loop at (%ld, %ld)\n",
                     static_cast<long>(i), static_cast<long>(j));
        return false;
      }
    }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Eigen::setNbThreads(1);  // one core for both sides (a no-op without OpenMP)
  if (!sanity_check()) return 1;

  for (const Shape& s : kShapes) {
    const std::string key = shape_key(s);
    benchmark::RegisterBenchmark(("matmul_nt/" + key).c_str(), bm_atp_nt, s)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("eigen_nt/" + key).c_str(), bm_eigen_nt, s)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("matmul_nn/" + key).c_str(), bm_atp_nn, s)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("eigen_nn/" + key).c_str(), bm_eigen_nn, s)->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RecordingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  std::printf("\nGFLOP/s, 1 thread, median over repetitions (Eigen %d.%d.%d, %s kernel)\n",
              EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION,
              atp::detail::matmul_has_avx2_kernel() ? "AVX2+FMA" : "portable");
  std::printf("%-22s %-24s %9s %9s %6s %9s %9s %6s\n", "M x N x K", "shape", "atp A.B^T",
              "Eigen", "ratio", "atp A.B", "Eigen", "ratio");
  for (const Shape& s : kShapes) {
    const std::string key = shape_key(s);
    const double nt = reporter.gflops("matmul_nt/" + key), ent = reporter.gflops("eigen_nt/" + key);
    const double nn = reporter.gflops("matmul_nn/" + key), enn = reporter.gflops("eigen_nn/" + key);
    if (std::isnan(nt) && std::isnan(ent) && std::isnan(nn) && std::isnan(enn)) continue;  // filtered out
    const std::string dims =
        std::to_string(s.M) + " x " + std::to_string(s.N) + " x " + std::to_string(s.K);
    std::printf("%-22s %-24s %9.1f %9.1f %6.2f %9.1f %9.1f %6.2f\n", dims.c_str(), s.what, nt, ent,
                nt / ent, nn, enn, nn / enn);
  }
  const std::string key = shape_key(kShapes[2]);
  const double ratio = reporter.gflops("matmul_nt/" + key) / reporter.gflops("eigen_nt/" + key);
  if (std::isnan(ratio))
    std::printf("matmul vs Eigen: n/a (the 1024^3 benchmarks were filtered out)\n");
  else
    std::printf("matmul vs Eigen: %.2f\n", ratio);
  return 0;
}
