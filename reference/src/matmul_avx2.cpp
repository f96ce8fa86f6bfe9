/// \file matmul_avx2.cpp
/// \brief The AVX2 + FMA micro-kernel (6 x 16, 12 ymm accumulators) and the
/// AVX2 packers, which the AVX-512 kernel shares.
///
/// Every function here carries `target("avx2,fma")`, so it is compiled in
/// whatever the build's -march; matmul_cpu.cpp calls it only on a CPU that
/// reports AVX2 and FMA. Left out: prefetching, any other tile shape.
#include "matmul_kernels.hpp"

#if ATP_GEMM_X86
#include <immintrin.h>
#endif

namespace atp::cpu_gemm {

#if ATP_GEMM_X86
namespace {

constexpr Index kMR = 6;   // 6 rows x 2 ymm = 12 accumulators of the 16 ymm registers
constexpr Index kNR = 16;  // two 8-float vectors per row

// The same loop nest as kernel_portable with the j loop done 8 lanes at a
// time: lane j of c[r][h] is acc[r][8h + j]. Vectorising ACROSS OUTPUT
// COLUMNS (broadcast A(i, k), multiply by B(k, j..j+7)) keeps each element in
// one lane from its first k to its last, so lanes never mix and no
// horizontal sum ever happens. `_mm256_fmadd_ps` rounds once per lane,
// exactly like std::fma. (Vectorising along K instead would split each dot
// product into 8 partial sums, a different order: deliberately not done.)
ATP_TARGET_AVX2 void kernel_avx2(Index kc, const float* Ap, const float* Bp, float* C, Index ldc,
                                 bool accumulate) {
  __m256 c[kMR][2];
#pragma GCC unroll 6
  for (Index r = 0; r < kMR; ++r) {
    c[r][0] = accumulate ? _mm256_loadu_ps(C + r * ldc) : _mm256_setzero_ps();
    c[r][1] = accumulate ? _mm256_loadu_ps(C + r * ldc + 8) : _mm256_setzero_ps();
  }
#pragma GCC unroll 4
  for (Index k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(Bp);
    const __m256 b1 = _mm256_loadu_ps(Bp + 8);
#pragma GCC unroll 6
    for (Index r = 0; r < kMR; ++r) {
      const __m256 a = _mm256_broadcast_ss(Ap + r);
      c[r][0] = _mm256_fmadd_ps(a, b0, c[r][0]);
      c[r][1] = _mm256_fmadd_ps(a, b1, c[r][1]);
    }
    Ap += kMR;
    Bp += kNR;
  }
#pragma GCC unroll 6
  for (Index r = 0; r < kMR; ++r) {
    _mm256_storeu_ps(C + r * ldc, c[r][0]);
    _mm256_storeu_ps(C + r * ldc + 8, c[r][1]);
  }
}

// In-register 8x8 transpose: on return r[i] holds column i of the input rows.
// Packing uses it to interleave rows; it moves bits and never rounds.
ATP_TARGET_AVX2 inline void transpose8x8(__m256 (&r)[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// Rows src[0..8) (stride lds), 8 floats each, transposed: column i of that
// 8x8 block goes to dst[i * ldd .. i * ldd + 8).
ATP_TARGET_AVX2 inline void transpose8x8_to(const float* src, Index lds, float* dst, Index ldd) {
  __m256 r[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  transpose8x8(r);
  for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + i * ldd, r[i]);
}

}  // namespace

// 8 k at a time: transpose the panel's rows in groups of 8 (rows past the
// panel are zero) and store each group's 8-float column at panel[k*mr + 8g].
// When mr is not a multiple of 8, a group's last store runs into the next
// column's first floats; columns are stored in ascending k, so the next
// column overwrites them (the last one's land in the next panel or the slack).
ATP_TARGET_AVX2 void pack_a_avx2(const float* A, Index lda, Index mc, Index kc, Index mr,
                                 float* out) {
  const Index groups = (mr + 7) / 8;  // mr <= 16: at most 2
  for (Index i0 = 0; i0 < mc; i0 += mr) {
    const Index rows = i0 + mr <= mc ? mr : mc - i0;
    float* panel = out + i0 * kc;
    const float* src = A + i0 * lda;
    Index k = 0;
    for (; k + 8 <= kc; k += 8) {
      __m256 t[2][8];
      for (Index g = 0; g < groups; ++g) {
        for (Index i = 0; i < 8; ++i) {
          const Index row = 8 * g + i;
          t[g][i] = row < rows ? _mm256_loadu_ps(src + row * lda + k) : _mm256_setzero_ps();
        }
        transpose8x8(t[g]);
      }
      for (Index i = 0; i < 8; ++i)
        for (Index g = 0; g < groups; ++g) _mm256_storeu_ps(panel + (k + i) * mr + 8 * g, t[g][i]);
    }
    for (; k < kc; ++k)
      for (Index r = 0; r < mr; ++r) panel[k * mr + r] = r < rows ? src[r * lda + k] : 0.0f;
  }
}

// For the (N, K) layout each panel is a transpose of nr rows of B, done 8x8
// in registers, 16 k at a time so that each source row is read in whole
// 64-byte lines (rows of B are often 4 KiB apart and evict each other from
// L1). The (K, N) layout is a plain copy: the scalar packer does it.
ATP_TARGET_AVX2 void pack_b_avx2(const float* B, Index ldb, BLayout layout, Index kc, Index nc,
                                 Index nr, float* out) {
  if (layout == BLayout::kn) {
    pack_b_scalar(B, ldb, layout, kc, nc, nr, out);
    return;
  }
  for (Index j0 = 0; j0 < nc; j0 += nr) {
    const Index cols = j0 + nr <= nc ? nr : nc - j0;
    float* panel = out + j0 * kc;
    Index k = 0;
    if (cols == nr) {
      for (; k + 16 <= kc; k += 16)
        for (Index g = 0; g < nr; g += 8) {
          const float* src = B + (j0 + g) * ldb + k;
          transpose8x8_to(src, ldb, panel + k * nr + g, nr);
          transpose8x8_to(src + 8, ldb, panel + (k + 8) * nr + g, nr);
        }
    }
    for (Index j = 0; j < nr; ++j) {
      const float* src = B + (j0 + j) * ldb;
      for (Index kk = k; kk < kc; ++kk) panel[kk * nr + j] = j < cols ? src[kk] : 0.0f;
    }
  }
}

const GemmKernel* avx2_kernel() {
  // KC = 256: one B micro-panel (256 x 16 floats, 16 KiB) stays in L1.
  // MC = 144: the packed A block (144 x 256, 144 KiB) stays in L2.
  // NC = 1024: the packed B block is 1 MiB; 4096 was 25% slower at M = 128.
  static const GemmKernel kernel{.name = "avx2",
                                 .isa = "AVX2 + FMA",
                                 .mr = kMR,
                                 .nr = kNR,
                                 .kc = 256,
                                 .mc = 144,
                                 .nc = 1024,
                                 .micro = kernel_avx2,
                                 .pack_a = pack_a_avx2,
                                 .pack_b = pack_b_avx2};
  return &kernel;
}

#else

const GemmKernel* avx2_kernel() { return nullptr; }

#endif

}  // namespace atp::cpu_gemm
