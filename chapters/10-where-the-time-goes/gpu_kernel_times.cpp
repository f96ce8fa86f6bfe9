/// \file gpu_kernel_times.cpp
/// \brief atp-ch10-kernel-times-gpu: measures, on one GPU, the bf16 matmuls
///        whose times chapter 10's cost model predicts, and writes them in the
///        form `atp-ch10-where-the-time-goes --section kernels --measured FILE` reads.
///
/// Run (on a GPU machine):
///
///     atp-ch10-where-the-time-goes --section kernels --hw h200-sxm > predicted.csv
///     atp-ch10-kernel-times-gpu predicted.csv > measured.csv
///     atp-ch10-where-the-time-goes --section kernels --hw h200-sxm --measured measured.csv
///
/// Each line kind,name,M,N,K of the input becomes one cuBLAS bf16 GEMM
/// (M, K) x (K, N) with fp32 accumulation, the kind of kernel a serving engine
/// runs (not the book's canonical-order kernels, which trade speed for bits),
/// timed with CUDA events over `--iters` launches after `--warmup`; the output
/// line is kind,name,M,N,K,measured_us (the mean of the back-to-back timed
/// launches). Inputs are random bf16 values in [-1, 1): a GEMM on zeros or on
/// uninitialized memory can run faster than on real data (on an H200 a bf16
/// product was seen 13 % faster on zeros). Without a GPU it says so and
/// exits with status 3. Leaves out: attention kernels, collectives (chapter 1's
/// GPU worker has an nccl-tests style --bench), clock locking.
#include <CLI/CLI.hpp>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": cuBLAS status " + std::to_string(s));
}

struct Shape {
  std::string kind, name;
  long long M = 0, N = 0, K = 0;
};

std::vector<Shape> read_shapes(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("cannot read '" + path + "'; give the CSV of --section kernels");
  std::vector<Shape> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#' || line.rfind("kind", 0) == 0) continue;
    std::stringstream s(line);
    Shape sh;
    std::string m, nn, k;
    std::getline(s, sh.kind, ',');
    std::getline(s, sh.name, ',');
    std::getline(s, m, ',');
    std::getline(s, nn, ',');
    std::getline(s, k, ',');
    try {
      sh.M = std::stoll(m);
      sh.N = std::stoll(nn);
      sh.K = std::stoll(k);
    } catch (const std::exception&) {
      throw std::invalid_argument(path + ":" + std::to_string(n) + ": expected kind,name,M,N,K,...; got '" + line + "'");
    }
    if (sh.kind != "gemm" || sh.M < 1 || sh.N < 1 || sh.K < 1)
      throw std::invalid_argument(path + ":" + std::to_string(n) + ": '" + line +
                                  "' is not a gemm with positive M, N, K");
    out.push_back(sh);
  }
  return out;
}

/// `n` random bf16 values in [-1, 1) (splitmix64, rounded to nearest even), copied to `device`.
void fill_random_bf16(void* device, long long n, std::uint64_t seed) {
  std::vector<std::uint16_t> host(static_cast<std::size_t>(n));
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::uint16_t& h : host) {
    x += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    const float f = static_cast<float>(static_cast<double>(z >> 40) / 8388608.0 - 1.0);
    std::uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    h = static_cast<std::uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
  }
  check(cudaMemcpy(device, host.data(), host.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times cuBLAS bf16 GEMMs of the shapes chapter 10 predicts, on one GPU."};
  std::string input;
  int warmup = 10, iters = 50;
  app.add_option("shapes", input, "CSV from atp-ch10-where-the-time-goes --section kernels")->required();
  app.add_option("--warmup", warmup, "untimed launches per shape")->check(CLI::Range(0, 1000));
  app.add_option("--iters", iters, "timed launches per shape")->check(CLI::Range(1, 100000));
  CLI11_PARSE(app, argc, argv);
  try {
    const std::vector<Shape> shapes = read_shapes(input);
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      std::fprintf(stderr, "atp-ch10-kernel-times-gpu: no CUDA device; run it on a GPU machine\n");
      return 3;
    }
    cublasHandle_t handle;
    check(cublasCreate(&handle), "cublasCreate");
    cudaEvent_t start, stop;
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    std::printf("kind,name,M,N,K,measured_us\n");
    for (const Shape& s : shapes) {
      void *A = nullptr, *B = nullptr, *C = nullptr;
      check(cudaMalloc(&A, 2 * s.M * s.K), "cudaMalloc A");
      check(cudaMalloc(&B, 2 * s.K * s.N), "cudaMalloc B");
      check(cudaMalloc(&C, 2 * s.M * s.N), "cudaMalloc C");
      fill_random_bf16(A, s.M * s.K, 1);
      fill_random_bf16(B, s.K * s.N, 2);
      const float one = 1.0f, zero = 0.0f;
      // Row-major (M, K) x (K, N) = column-major C^T (N, M) = B^T (N, K) x A^T (K, M).
      auto gemm = [&] {
        check(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(s.N), static_cast<int>(s.M),
                           static_cast<int>(s.K), &one, B, CUDA_R_16BF, static_cast<int>(s.N), A, CUDA_R_16BF,
                           static_cast<int>(s.K), &zero, C, CUDA_R_16BF, static_cast<int>(s.N), CUBLAS_COMPUTE_32F,
                           CUBLAS_GEMM_DEFAULT),
              "cublasGemmEx");
      };
      for (int i = 0; i < warmup; ++i) gemm();
      check(cudaEventRecord(start), "cudaEventRecord");
      for (int i = 0; i < iters; ++i) gemm();
      check(cudaEventRecord(stop), "cudaEventRecord");
      check(cudaEventSynchronize(stop), "cudaEventSynchronize");
      float ms = 0;
      check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
      std::printf("%s,%s,%lld,%lld,%lld,%.3f\n", s.kind.c_str(), s.name.c_str(), s.M, s.N, s.K, 1e3 * ms / iters);
      check(cudaFree(A), "cudaFree");
      check(cudaFree(B), "cudaFree");
      check(cudaFree(C), "cudaFree");
    }
    cublasDestroy(handle);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-ch10-kernel-times-gpu: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
