/// \file bench_matmul.cpp
/// \brief GFLOP/s of the deterministic CPU matmul next to Eigen's own float
/// GEMM on the same shapes: single-threaded, and scaled to all cores.
///
/// Letters: M = output rows (tokens), N = output columns, K = reduced dim.
/// Each shape is timed four ways on one thread: atp::matmul_nt (A B^T, the
/// linear-layer shape) against Eigen's `C.noalias() = A * B.transpose()`, and
/// atp::matmul_nn (A B) against `C.noalias() = A * B`. The 1024^3 and MLP
/// shapes are also timed (A B^T) on all cores: ATP_THREADS, or one thread
/// per core. Eigen is free to sum in any order; ours must keep the canonical
/// fma order (NUMERICS.md section 2), so the ratio is the price of
/// determinism.
///
/// One more benchmark, `thread_start_join`, times what a second thread costs
/// before it computes anything (the parallel matmul starts fresh threads).
/// The header says what each side ran, read from the build and the CPU, not
/// written in: our dispatched kernel (ATP_MATMUL_KERNEL can force another)
/// and Eigen's SIMD instruction sets and threading (OpenMP, if the bench was
/// compiled with it; Eigen threads only through OpenMP).
/// Run: `scripts/bench.sh` (Release build), extra arguments go to Google
/// Benchmark, e.g. `scripts/bench.sh --benchmark_repetitions=10`.
/// The last line is `matmul vs Eigen: <ratio>` for 1024^3 (A B^T, 1 thread).
/// Left out: bf16, comparisons with vendor BLAS, thread counts between 1
/// and all.
#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>  // isatty

namespace {

using atp::Matrix;
using atp::detail::MatmulKernel;
using atp::detail::MatmulOptions;
using Index = Eigen::Index;

struct Shape {
  Index M, N, K;
  const char* what;
  bool scaled;  // also timed on all cores
};

// Square sizes that cross the cache levels, and one transformer-ish MLP
// up-projection: 128 tokens, hidden 1024, intermediate 4096.
const Shape kShapes[] = {{256, 256, 256, "square", false},
                         {512, 512, 512, "square", false},
                         {1024, 1024, 1024, "square", true},
                         {128, 4096, 1024, "MLP up-proj, 128 tokens", true}};
constexpr int kSquare1024 = 2, kMlp = 3;

std::string shape_key(const Shape& s) {
  return "M=" + std::to_string(s.M) + "/N=" + std::to_string(s.N) + "/K=" + std::to_string(s.K);
}

std::string bench_name(const char* what, const Shape& s, int threads) {
  return std::string(what) + "/" + shape_key(s) + "/threads:" + std::to_string(threads);
}

bool eigen_has_threads() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

void set_flops(benchmark::State& state, const Shape& s) {
  // 2 M N K flops per call; an iteration-invariant rate divides by the
  // time, and the console prints it with an SI prefix ("75.3G/s").
  state.counters["FLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(s.M) * static_cast<double>(s.N) * static_cast<double>(s.K),
      benchmark::Counter::kIsIterationInvariantRate);
}

void bm_atp(benchmark::State& state, Shape s, bool nt, int threads) {
  const Matrix A = atp::random_matrix(s.M, s.K, 1, 0);
  const Matrix B = nt ? atp::random_matrix(s.N, s.K, 1, 1) : atp::random_matrix(s.K, s.N, 1, 1);
  const MatmulOptions options{MatmulKernel::best, threads};
  for (auto _ : state) {
    Matrix C = nt ? atp::detail::matmul_nt(A, B, options) : atp::detail::matmul_nn(A, B, options);
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
}

void bm_eigen(benchmark::State& state, Shape s, bool nt, int threads) {
  Eigen::setNbThreads(threads);  // a no-op without OpenMP
  const Matrix A = atp::random_matrix(s.M, s.K, 1, 0);
  const Matrix B = nt ? atp::random_matrix(s.N, s.K, 1, 1) : atp::random_matrix(s.K, s.N, 1, 1);
  Matrix C(s.M, s.N);
  for (auto _ : state) {
    if (nt)
      C.noalias() = A * B.transpose();
    else
      C.noalias() = A * B;
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
}

// What a second thread costs before it computes anything: the parallel
// matmul starts fresh std::threads, so small products stay on one.
void bm_thread_start(benchmark::State& state) {
  for (auto _ : state) {
    std::thread t([] {});
    t.join();
  }
}

// Console output as usual, plus the GFLOP/s of every run, keyed by name, so
// main() can print ratios measured in this very process.
class RecordingReporter : public benchmark::ConsoleReporter {
 public:
  // A custom reporter does not see --benchmark_color: colour only on a terminal.
  RecordingReporter() : ConsoleReporter(isatty(fileno(stdout)) ? OO_ColorTabular : OO_Tabular) {}

  std::map<std::string, std::vector<double>> iterations;  // one value per repetition
  std::map<std::string, double> medians;                  // from --benchmark_repetitions
  double thread_start_us = std::nan("");                     // median, or the last repetition

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (!run.error_occurred && run.run_name.function_name == "thread_start_join" &&
          (run.run_type == Run::RT_Iteration || run.aggregate_name == "median"))
        thread_start_us = run.GetAdjustedRealTime();  // in the benchmark's unit: microseconds
      const auto it = run.counters.find("FLOP/s");
      if (run.error_occurred || it == run.counters.end()) continue;
      const std::string name = run.run_name.function_name;  // without "/real_time"
      const double g = it->second.value * 1e-9;
      if (run.run_type == Run::RT_Iteration)
        iterations[name].push_back(g);
      else if (run.aggregate_name == "median")
        medians[name] = g;
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
// against the naive loop, on one thread and on all, before timing anything.
bool sanity_check(int threads) {
  const Index M = 67, N = 131, K = 300;
  const Matrix A = atp::random_matrix(M, K, 2, 0);
  const Matrix B = atp::random_matrix(N, K, 2, 1);
  for (int t : {1, threads}) {
    const Matrix C = atp::detail::matmul_nt(A, B, {MatmulKernel::best, t});
    for (Index i = 0; i < M; ++i)
      for (Index j = 0; j < N; ++j) {
        float acc = 0.0f;
        for (Index k = 0; k < K; ++k) acc = std::fma(A(i, k), B(j, k), acc);
        if (std::memcmp(&acc, &C(i, j), sizeof acc) != 0) {
          std::fprintf(stderr, "bench_matmul: matmul_nt on %d threads differs from the naive loop at (%ld, %ld)\n",
                       t, static_cast<long>(i), static_cast<long>(j));
          return false;
        }
      }
  }
  return true;
}

// "AMD EPYC 9B45" from /proc/cpuinfo, or "unknown CPU".
std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "unknown CPU";
}

// The first line of /proc/loadavg ("0.42 0.61 0.70 ..."): other work on the
// machine while the benchmark ran makes every number noisier.
std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(f >> one >> five >> fifteen)) return "unknown";
  return one + " " + five + " " + fifteen;
}

// The vector instruction sets Eigen's packet math was compiled for, from its
// EIGEN_VECTORIZE_* macros. (Eigen::SimdInstructionSetsInUse() says only
// "AVX" for an AVX2 + FMA build, so both are printed.)
std::string eigen_vectorize() {
  std::string s;
  const auto add = [&s](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
#ifdef EIGEN_VECTORIZE_AVX512
  add(true, "AVX512F");
#endif
#ifdef EIGEN_VECTORIZE_AVX2
  add(true, "AVX2");
#endif
#ifdef EIGEN_VECTORIZE_FMA
  add(true, "FMA");
#endif
#ifdef EIGEN_VECTORIZE_AVX
  add(true, "AVX");
#endif
#ifdef EIGEN_VECTORIZE_SSE2
  add(true, "SSE2");
#endif
#ifdef EIGEN_VECTORIZE_NEON
  add(true, "NEON");
#endif
  add(s.empty(), "none (scalar)");
  return s;
}

void print_header(int threads) {
  std::printf("\nCPU: %s, %d threads for 'all cores' (ATP_THREADS or one per core); load average "
              "after the run: %s\n",
              cpu_model().c_str(), threads, load_average().c_str());
  std::printf("atp matmul: kernel %s, dispatched at run time (ATP_MATMUL_KERNEL forces one)\n",
              atp::detail::matmul_kernel_description(MatmulKernel::best).c_str());
  std::printf("Eigen %d.%d.%d: vectorised for %s (EIGEN_VECTORIZE_*; SimdInstructionSetsInUse(): %s); ",
              EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION,
              eigen_vectorize().c_str(), Eigen::SimdInstructionSetsInUse());
  if (eigen_has_threads())
    std::printf("threads via OpenMP\n");
  else
    std::printf("no OpenMP in this build, so Eigen runs on one thread only\n");
}

void print_single_thread(const RecordingReporter& rep) {
  std::printf("\nGFLOP/s, 1 thread, median over repetitions\n");
  std::printf("%-22s %-24s %9s %9s %6s %9s %9s %6s\n", "M x N x K", "shape", "atp A.B^T",
              "Eigen", "ratio", "atp A.B", "Eigen", "ratio");
  for (const Shape& s : kShapes) {
    const double nt = rep.gflops(bench_name("matmul_nt", s, 1));
    const double ent = rep.gflops(bench_name("eigen_nt", s, 1));
    const double nn = rep.gflops(bench_name("matmul_nn", s, 1));
    const double enn = rep.gflops(bench_name("eigen_nn", s, 1));
    if (std::isnan(nt) && std::isnan(ent) && std::isnan(nn) && std::isnan(enn)) continue;  // filtered out
    const std::string dims =
        std::to_string(s.M) + " x " + std::to_string(s.N) + " x " + std::to_string(s.K);
    std::printf("%-22s %-24s %9.1f %9.1f %6.2f %9.1f %9.1f %6.2f\n", dims.c_str(), s.what, nt, ent,
                nt / ent, nn, enn, nn / enn);
  }
}

void print_scaling(const RecordingReporter& rep, int threads) {
  std::printf("\nScaling, A.B^T, GFLOP/s (median) on 1 and %d threads; speedup = %d threads / 1\n",
              threads, threads);
  std::printf("%-22s %9s %9s %8s %9s %9s %8s %6s\n", "M x N x K", "atp 1", "atp all", "speedup",
              "Eigen 1", "Eigen all", "speedup", "ratio");
  for (const Shape& s : kShapes) {
    if (!s.scaled) continue;
    const double a1 = rep.gflops(bench_name("matmul_nt", s, 1));
    const double an = rep.gflops(bench_name("matmul_nt", s, threads));
    const double e1 = rep.gflops(bench_name("eigen_nt", s, 1));
    const double en = rep.gflops(bench_name("eigen_nt", s, threads));
    if (std::isnan(an) && std::isnan(en)) continue;
    const std::string dims =
        std::to_string(s.M) + " x " + std::to_string(s.N) + " x " + std::to_string(s.K);
    std::printf("%-22s %9.1f %9.1f %8.2f %9.1f %9.1f %8.2f %6.2f\n", dims.c_str(), a1, an, an / a1,
                e1, en, en / e1, an / en);
  }
}

void print_ratio(const RecordingReporter& rep, const char* label, const Shape& s) {
  const double r = rep.gflops(bench_name("matmul_nt", s, 1)) / rep.gflops(bench_name("eigen_nt", s, 1));
  if (std::isnan(r))
    std::printf("%s: n/a (filtered out)\n", label);
  else
    std::printf("%s: %.2f\n", label, r);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = atp::detail::matmul_threads();
  if (!sanity_check(threads)) return 1;

  for (const Shape& s : kShapes) {
    std::vector<int> counts{1};
    if (s.scaled && threads > 1) counts.push_back(threads);
    for (int t : counts) {
      const bool eigen_too = t == 1 || eigen_has_threads();
      benchmark::RegisterBenchmark(bench_name("matmul_nt", s, t).c_str(), bm_atp, s, true, t)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
      if (eigen_too)
        benchmark::RegisterBenchmark(bench_name("eigen_nt", s, t).c_str(), bm_eigen, s, true, t)
            ->Unit(benchmark::kMillisecond)->UseRealTime();
      if (t != 1) continue;
      benchmark::RegisterBenchmark(bench_name("matmul_nn", s, t).c_str(), bm_atp, s, false, t)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
      benchmark::RegisterBenchmark(bench_name("eigen_nn", s, t).c_str(), bm_eigen, s, false, t)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
  }
  benchmark::RegisterBenchmark("thread_start_join", bm_thread_start)
      ->Unit(benchmark::kMicrosecond)->UseRealTime();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RecordingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  print_header(threads);
  if (!std::isnan(reporter.thread_start_us))
    std::printf("one std::thread start + join: %.0f us\n", reporter.thread_start_us);
  print_single_thread(reporter);
  if (threads > 1) print_scaling(reporter, threads);
  std::printf("\n");
  print_ratio(reporter, "matmul vs Eigen, MLP shape", kShapes[kMlp]);
  print_ratio(reporter, "matmul vs Eigen", kShapes[kSquare1024]);
  return 0;
}
