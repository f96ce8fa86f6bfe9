/// \file matmul_timing.cpp
/// \brief atp-gpu-matmul-timing: the price of the canonical summation order on
///        one GPU, the book's tiled matmul kernel against cuBLAS SGEMM (TF32
///        off) on the same C = A B^T, with a ratio per shape.
///
/// The book's kernel (cuda/src/matmul.cu) computes every output element as one
/// fma chain over k ascending, on the CUDA cores, so that its bits are the
/// CPU's; cuBLAS chooses its own order (split-K, tiles, any kernel) and is the
/// speed a serving engine gets in float32. Shapes: 4096^3, and the MLP of one
/// 7B decoder layer (512 tokens, 4096 -> 11008 -> 4096).
///
/// Method (the workplace's METHOD.md): random inputs, three input sets rotated
/// so repeated runs do not measure the L2 cache, outputs poisoned (NaN) before
/// the first run and checked for unwritten elements, a warm-up, CUDA events
/// around each launch, the median of `--repeats`. cuBLAS runs with
/// CUBLAS_DEFAULT_MATH, whose SGEMM never uses TF32 tensor cores, and the tool
/// refuses to run when NVIDIA_TF32_OVERRIDE asks for TF32. Each shape also
/// prints |ours - cuBLAS| / |cuBLAS| (Frobenius), a check that both computed
/// the same product. Without a GPU it says so and exits with status 2.
/// Leaves out: bf16 and tensor cores (outside the bitwise contract), clock
/// locking (the card is measured as found).
#include "atp/cuda/check.hpp"
#include "atp/cuda/kernels.hpp"

#include <CLI/CLI.hpp>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": cuBLAS status " + std::to_string(s));
}

/// Uniform values in [-1, 1) from a splitmix64 stream: fresh, nonzero inputs for every set.
std::vector<float> random_values(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n);
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (float& f : v) {
    x += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    f = static_cast<float>(static_cast<double>(z >> 40) / 8388608.0 - 1.0);
  }
  return v;
}

struct DeviceFloats {
  float* p = nullptr;
  explicit DeviceFloats(std::size_t n) { ATP_CUDA_CHECK(cudaMalloc(&p, n * sizeof(float))); }
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;
  ~DeviceFloats() { cudaFree(p); }
};

struct Shape {
  const char* name;
  int M, N, K;
};

/// Median of `repeats` event-timed runs of `launch(set)`, rotating over the input sets.
template <class Launch>
double median_ms(int repeats, int sets, Launch launch) {
  cudaEvent_t start, stop;
  ATP_CUDA_CHECK(cudaEventCreate(&start));
  ATP_CUDA_CHECK(cudaEventCreate(&stop));
  for (int w = 0; w < sets; ++w) launch(w);  // warm-up: module load, cuBLAS heuristics and workspace
  ATP_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    ATP_CUDA_CHECK(cudaEventRecord(start));
    launch(r % sets);
    ATP_CUDA_CHECK(cudaEventRecord(stop));
    ATP_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0.0f;
    ATP_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

/// Frobenius |a - b| / |b| over two device outputs; also counts NaNs left in `a` (unwritten elements).
double relative_difference(const float* a_dev, const float* b_dev, std::size_t n, std::size_t& nan_count) {
  std::vector<float> a(n), b(n);
  ATP_CUDA_CHECK(cudaMemcpy(a.data(), a_dev, n * sizeof(float), cudaMemcpyDeviceToHost));
  ATP_CUDA_CHECK(cudaMemcpy(b.data(), b_dev, n * sizeof(float), cudaMemcpyDeviceToHost));
  double num = 0.0, den = 0.0;
  nan_count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      ++nan_count;
      continue;
    }
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return std::sqrt(num / den);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"atp-gpu-matmul-timing: the book's canonical-order matmul kernel vs cuBLAS SGEMM (TF32 off)"};
  int repeats = 15;
  app.add_option("--repeats", repeats, "timed runs per kernel and shape (the median is reported)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (const char* o = std::getenv("NVIDIA_TF32_OVERRIDE"); o != nullptr && std::strcmp(o, "0") != 0) {
    std::fprintf(stderr, "atp-gpu-matmul-timing: NVIDIA_TF32_OVERRIDE='%s' could turn TF32 on; unset it or set 0\n", o);
    return 1;
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "atp-gpu-matmul-timing: no usable CUDA device; run it on a GPU machine\n");
    return 2;
  }
  try {
    cudaDeviceProp prop{};
    ATP_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    cublasHandle_t handle;
    check_cublas(cublasCreate(&handle), "cublasCreate");
    check_cublas(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    int cublas_version = 0;
    check_cublas(cublasGetVersion(handle, &cublas_version), "cublasGetVersion");
    std::printf("GPU: %s, cuBLAS %d, median of %d runs, 3 input sets rotated, float32 in and out\n\n", prop.name,
                cublas_version, repeats);
    std::printf("%-28s %6s %6s %6s  %10s %10s  %8s %8s  %7s  %9s\n", "shape", "M", "N", "K", "book ms", "cuBLAS ms",
                "book TF/s", "cuBLAS", "ratio", "|diff|/|c|");

    const Shape shapes[] = {{"square 4096^3", 4096, 4096, 4096},
                            {"7B MLP up/gate (512 tok)", 512, 11008, 4096},
                            {"7B MLP down (512 tok)", 512, 4096, 11008}};
    constexpr int kSets = 3;
    for (const Shape& s : shapes) {
      const std::size_t na = std::size_t(s.M) * s.K, nb = std::size_t(s.N) * s.K, nc = std::size_t(s.M) * s.N;
      std::vector<std::unique_ptr<DeviceFloats>> A, B;
      for (int set = 0; set < kSets; ++set) {
        A.push_back(std::make_unique<DeviceFloats>(na));
        B.push_back(std::make_unique<DeviceFloats>(nb));
        const auto a = random_values(na, 2 * set + 1), b = random_values(nb, 2 * set + 2);
        ATP_CUDA_CHECK(cudaMemcpy(A.back()->p, a.data(), na * sizeof(float), cudaMemcpyHostToDevice));
        ATP_CUDA_CHECK(cudaMemcpy(B.back()->p, b.data(), nb * sizeof(float), cudaMemcpyHostToDevice));
      }
      DeviceFloats c_book(nc), c_blas(nc);
      ATP_CUDA_CHECK(cudaMemset(c_book.p, 0xFF, nc * sizeof(float)));  // NaN: an unwritten element shows
      ATP_CUDA_CHECK(cudaMemset(c_blas.p, 0xFF, nc * sizeof(float)));

      const double book = median_ms(repeats, kSets, [&](int set) {
        atp::cuda::launch_matmul_nt(A[set]->p, B[set]->p, nullptr, c_book.p, s.M, s.N, s.K, nullptr);
      });
      const float one = 1.0f, zero = 0.0f;
      // Row-major C = A B^T is column-major C^T = B A^T: B read transposed (N x K), A as stored (K x M).
      const double blas = median_ms(repeats, kSets, [&](int set) {
        check_cublas(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, s.N, s.M, s.K, &one, B[set]->p, s.K, A[set]->p,
                                 s.K, &zero, c_blas.p, s.N),
                     "cublasSgemm");
      });
      ATP_CUDA_CHECK(cudaDeviceSynchronize());
      // The last timed run of each used set (repeats - 1) % kSets: the same inputs for both.
      std::size_t nans = 0;
      const double diff = relative_difference(c_book.p, c_blas.p, nc, nans);
      const double flops = 2.0 * s.M * s.N * double(s.K);
      std::printf("%-28s %6d %6d %6d  %10.3f %10.3f  %8.1f %8.1f  %6.2fx  %9.2e\n", s.name, s.M, s.N, s.K, book, blas,
                  flops / book * 1e-9, flops / blas * 1e-9, book / blas, diff);
      if (nans != 0) {
        std::fprintf(stderr, "atp-gpu-matmul-timing: %zu output elements unwritten or NaN in %s\n", nans, s.name);
        return 1;
      }
      if (!(diff < 1e-4)) {
        std::fprintf(stderr, "atp-gpu-matmul-timing: the two products differ by %.3e in %s: not the same product\n",
                     diff, s.name);
        return 1;
      }
    }
    cublasDestroy(handle);
    std::printf("\nratio = book / cuBLAS time: what the canonical order (one fma chain per element, CUDA cores,\n"
                "no split-K) costs against the library on the same float32 product.\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-gpu-matmul-timing: %s\n", e.what());
    return 1;
  }
  return 0;
}
