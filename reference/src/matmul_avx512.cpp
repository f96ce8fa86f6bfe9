/// \file matmul_avx512.cpp
/// \brief The AVX-512 micro-kernel: 6 x 64, 24 zmm accumulators.
///
/// The AVX2 kernel's 6-row tile with four 16-float vectors per row instead
/// of two 8-float ones: per k, four loads of B(k, j..j+63), six broadcasts
/// of A(i, k), twenty-four fmas. Packing reuses the AVX2 packers (the A
/// panels are the same 6 rows). Compiled with `target("avx512f,avx2,fma")`;
/// matmul_cpu.cpp calls it only on a CPU that reports all three.
/// Left out: masked edge tiles (the driver pads them), AVX-512 packers
/// (packing is a few percent of the time), prefetching.
#include "matmul_kernels.hpp"

#if ATP_GEMM_X86
#include <immintrin.h>
#endif

namespace atp::cpu_gemm {

#if ATP_GEMM_X86
namespace {

// 32 zmm registers: 6 x 4 = 24 accumulators, 4 for the B row, 1 for the A
// broadcast. Measured on AMD Zen 5 (bench/README.md), 6 x 64 and 8 x 48
// beat 14 x 32 and 12 x 32 by 5-15% at the 128-token MLP shape, where a
// 14-row tile wastes most of its last panel (128 = 9 x 14 + 2); 6 x 64
// keeps the AVX2 kernel's A panels.
constexpr Index kMR = 6;
constexpr Index kNR = 64;

// Lane j of c[r][v] is output element (r, 16v + j): one lane, one chain,
// one fma per k with k ascending, exactly as in kernel_portable.
ATP_TARGET_AVX512 void kernel_avx512(Index kc, const float* Ap, const float* Bp, float* C,
                                     Index ldc, bool accumulate) {
  __m512 c[kMR][4];
#pragma GCC unroll 6
  for (Index r = 0; r < kMR; ++r)
#pragma GCC unroll 4
    for (Index v = 0; v < 4; ++v)
      c[r][v] = accumulate ? _mm512_loadu_ps(C + r * ldc + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 2
  for (Index k = 0; k < kc; ++k) {
    __m512 b[4];
#pragma GCC unroll 4
    for (Index v = 0; v < 4; ++v) b[v] = _mm512_loadu_ps(Bp + 16 * v);
#pragma GCC unroll 6
    for (Index r = 0; r < kMR; ++r) {
      const __m512 a = _mm512_set1_ps(Ap[r]);
#pragma GCC unroll 4
      for (Index v = 0; v < 4; ++v) c[r][v] = _mm512_fmadd_ps(a, b[v], c[r][v]);
    }
    Ap += kMR;
    Bp += kNR;
  }
#pragma GCC unroll 6
  for (Index r = 0; r < kMR; ++r)
#pragma GCC unroll 4
    for (Index v = 0; v < 4; ++v) _mm512_storeu_ps(C + r * ldc + 16 * v, c[r][v]);
}

}  // namespace

const GemmKernel* avx512_kernel() {
  // KC = 384: a B micro-panel (384 x 64 floats, 96 KiB) streams from L2
  // while the A micro-panel (9 KiB) stays in L1; 384 measured a little
  // faster than 256. MC = 168 (28 panels): the packed A block (252 KiB)
  // stays in L2. NC = 1024 as for AVX2.
  static const GemmKernel kernel{.name = "avx512",
                                 .isa = "AVX-512F + FMA",
                                 .mr = kMR,
                                 .nr = kNR,
                                 .kc = 384,
                                 .mc = 168,
                                 .nc = 1024,
                                 .micro = kernel_avx512,
                                 .pack_a = pack_a_avx2,
                                 .pack_b = pack_b_avx2};
  return &kernel;
}

#else

const GemmKernel* avx512_kernel() { return nullptr; }

#endif

}  // namespace atp::cpu_gemm
