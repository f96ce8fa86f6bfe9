/// \file matmul_cpu.cpp
/// \brief The blocked, packed, vectorised CPU matmul that keeps the naive
/// loop's bits: BLIS-style loops around a 6x16 register-blocked micro-kernel.
///
/// Letters: M, N, K as in matmul_cpu.hpp; MR x NR = 6 x 16 is the register
/// tile, KC / MC / NC the cache blocks. Left out: threads, prefetch tuning,
/// kernels for other ISAs (AVX-512, NEON) - the portable kernel covers them.
///
/// Why the bits cannot change (the whole point of this file):
///
///  1. Each output element C(i, j) lives in one SIMD lane of one register
///     from k = 0 to the end of a K block. Vectorising ACROSS OUTPUT COLUMNS
///     (broadcast A(i, k), multiply by B(k, j..j+7)) means lane j computes
///     exactly acc_j = fma(A(i, k), B(k, j), acc_j): lanes never mix, so no
///     horizontal sum and no reassociation ever happens. (Vectorising along
///     K instead would split each dot product into 8 partial sums - a
///     different order - so it is deliberately not done.)
///  2. `_mm256_fmadd_ps` rounds once per lane, exactly like `std::fma`.
///     -ffp-contract=off stops the compiler fusing anything else.
///  3. K blocking: after a K block the accumulator is stored to C as fp32
///     and reloaded as fp32 for the next block. A float round-trips through
///     memory unchanged, so the chain `acc = fma(a[k], b[k], acc)` simply
///     continues, k still ascending. Nothing is added to C; C IS the
///     accumulator between blocks. (Contrast split-K, where two partial
///     chains are added: not allowed.)
///  4. The first K block starts from +0.0f, as the naive loop does (not from
///     the first product, which differs when that product is -0.0f).
///  5. M/N blocking and packing only decide which elements are computed
///     when and where the operands sit in memory; they move bits, never
///     round them. Edge tiles are padded with zero rows/columns whose
///     results are thrown away; K is never padded.
#include "atp/matmul_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define ATP_MATMUL_AVX2 1
#else
#define ATP_MATMUL_AVX2 0
#endif

namespace atp {
namespace {

using Index = Eigen::Index;

constexpr Index kMR = 6;     // register tile rows: 6 x 2 ymm accumulators = 12 of 16 ymm
constexpr Index kNR = 16;    // register tile columns: two 8-float vectors
constexpr Index kKC = 256;   // K block: one B micro-panel (kKC x kNR, 16 KiB) stays in L1
constexpr Index kMC = 144;   // M block: the packed A block (kMC x kKC, 144 KiB) stays in L2
constexpr Index kNC = 1024;  // N block: packed B block (kKC x kNC, 1 MiB); 4096 was 25% slower at M=128
constexpr Index kPackSlack = 8;  // floats past a packed A block that pack_a may scribble on

/// How the logical (K, N) operand B is stored.
enum class BLayout {
  nk,  // B given as (N, K) row-major: element (k, n) at b[n * ldb + k] (matmul_nt)
  kn   // B given as (K, N) row-major: element (k, n) at b[k * ldb + n] (matmul_nn)
};

using Buffer = std::vector<float, Eigen::aligned_allocator<float>>;

// A micro-kernel: C[0..6)[0..16) (row stride ldc) continues its fma chains
// over kc more k values. Ap holds A's 6 rows interleaved (Ap[k*6 + r]), Bp
// holds B's 16 columns interleaved (Bp[k*16 + j]); both 32-byte aligned.
// accumulate = false starts the chains from +0.0f instead of reading C.
using MicroKernel = void (*)(Index kc, const float* Ap, const float* Bp, float* C, Index ldc,
                             bool accumulate);

void kernel_portable(Index kc, const float* Ap, const float* Bp, float* C, Index ldc,
                     bool accumulate) {
  float acc[kMR][kNR];
  for (Index r = 0; r < kMR; ++r)
    for (Index j = 0; j < kNR; ++j) acc[r][j] = accumulate ? C[r * ldc + j] : 0.0f;
  for (Index k = 0; k < kc; ++k)
    for (Index r = 0; r < kMR; ++r)
      for (Index j = 0; j < kNR; ++j)
        acc[r][j] = std::fma(Ap[k * kMR + r], Bp[k * kNR + j], acc[r][j]);
  for (Index r = 0; r < kMR; ++r)
    for (Index j = 0; j < kNR; ++j) C[r * ldc + j] = acc[r][j];
}

#if ATP_MATMUL_AVX2
// The same loop nest as kernel_portable with the j loop done 8 lanes at a
// time: lane j of c[r][h] is acc[r][8h + j], updated by one fma per k.
void kernel_avx2(Index kc, const float* Ap, const float* Bp, float* C, Index ldc,
                 bool accumulate) {
  __m256 c[kMR][2];
#pragma GCC unroll 6
  for (Index r = 0; r < kMR; ++r) {
    c[r][0] = accumulate ? _mm256_loadu_ps(C + r * ldc) : _mm256_setzero_ps();
    c[r][1] = accumulate ? _mm256_loadu_ps(C + r * ldc + 8) : _mm256_setzero_ps();
  }
#pragma GCC unroll 4
  for (Index k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(Bp);
    const __m256 b1 = _mm256_load_ps(Bp + 8);
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
#endif

MicroKernel pick_kernel(detail::MatmulKernel which) {
#if ATP_MATMUL_AVX2
  if (which == detail::MatmulKernel::best) return kernel_avx2;
#else
  (void)which;
#endif
  return kernel_portable;
}

#if ATP_MATMUL_AVX2
// In-register 8x8 transpose: on return r[i] holds column i of the input rows.
// Packing uses it to interleave rows; it moves bits and never rounds.
inline void transpose8x8(__m256 (&r)[8]) {
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

// Rows src[0..8) (stride lds), 8 floats each, transposed into dst[i*kNR + 0..8).
inline void transpose8x8_to_panel(const float* src, Index lds, float* dst) {
  __m256 r[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  transpose8x8(r);
  for (int i = 0; i < 8; ++i) _mm256_store_ps(dst + i * kNR, r[i]);
}
#endif

// Packs rows [ic, ic+mc) x columns [pc, pc+kc) of row-major A into panels of
// kMR rows, k-major inside a panel (Ap[k*kMR + r]), so the kernel reads A
// sequentially. Rows past mc are zero: their results land in a scratch tile
// and are dropped. `out` needs kPackSlack floats of room past the last panel.
void pack_a(const float* A, Index lda, Index ic, Index mc, Index pc, Index kc, float* out) {
  for (Index i0 = 0; i0 < mc; i0 += kMR) {
    const Index mr = std::min(kMR, mc - i0);
    float* panel = out + i0 * kc;
    const float* src = A + (ic + i0) * lda + pc;
    Index k = 0;
#if ATP_MATMUL_AVX2
    // 8 k at a time: transpose 6 rows (plus 2 zero rows) in registers and
    // store each 8-float column at Ap[k*6]; its last 2 (zero) floats are
    // overwritten by the next column, or land in the slack past the panel.
    for (; k + 8 <= kc; k += 8) {
      __m256 r[8];
      for (Index i = 0; i < 8; ++i)
        r[i] = i < mr ? _mm256_loadu_ps(src + i * lda + k) : _mm256_setzero_ps();
      transpose8x8(r);
      for (Index i = 0; i < 8; ++i) _mm256_storeu_ps(panel + (k + i) * kMR, r[i]);
    }
#endif
    for (; k < kc; ++k)
      for (Index r = 0; r < kMR; ++r) panel[k * kMR + r] = r < mr ? src[r * lda + k] : 0.0f;
  }
}

// Packs the logical block B(k in [pc, pc+kc), n in [jc, jc+nc)) into panels
// of kNR columns, k-major inside a panel (Bp[k*kNR + j]). Columns past nc
// are zero. For the (N, K) layout this is a transpose, done 8x8 in
// registers when AVX2 is there (it moves bits only).
void pack_b(const float* B, Index ldb, BLayout layout, Index pc, Index kc, Index jc, Index nc,
            float* out) {
  for (Index j0 = 0; j0 < nc; j0 += kNR) {
    const Index nr = std::min(kNR, nc - j0);
    float* panel = out + j0 * kc;
    if (layout == BLayout::kn) {
      for (Index k = 0; k < kc; ++k) {
        const float* src = B + (pc + k) * ldb + jc + j0;
        float* dst = panel + k * kNR;
        Index j = 0;
        for (; j < nr; ++j) dst[j] = src[j];
        for (; j < kNR; ++j) dst[j] = 0.0f;
      }
      continue;
    }
    Index k = 0;
#if ATP_MATMUL_AVX2
    if (nr == kNR) {
      // 16 k at a time so each source row is read in whole 64-byte lines
      // (rows of B are often 4 KiB apart and would evict each other from L1).
      for (; k + 16 <= kc; k += 16) {
        const float* src = B + (jc + j0) * ldb + pc + k;
        transpose8x8_to_panel(src, ldb, panel + k * kNR);
        transpose8x8_to_panel(src + 8, ldb, panel + (k + 8) * kNR);
        transpose8x8_to_panel(src + 8 * ldb, ldb, panel + k * kNR + 8);
        transpose8x8_to_panel(src + 8 * ldb + 8, ldb, panel + (k + 8) * kNR + 8);
      }
    }
#endif
    for (Index j = 0; j < kNR; ++j) {
      if (j < nr) {
        const float* src = B + (jc + j0 + j) * ldb + pc;
        for (Index kk = k; kk < kc; ++kk) panel[kk * kNR + j] = src[kk];
      } else {
        for (Index kk = k; kk < kc; ++kk) panel[kk * kNR + j] = 0.0f;
      }
    }
  }
}

// C (M, N) row-major = A (M, K) row-major times the logical (K, N) operand B.
// The loop order is BLIS's (jc, pc, ic, jr, ir): a packed B block is reused
// across all of M, a packed A block across the whole N block, and the
// 16-column B micro-panel stays in L1 while the kernel walks down A's panels.
// Every (i, j) sees its K blocks in ascending pc order, which is all the
// canonical order needs (see the file comment).
void gemm(Index M, Index N, Index K, const float* A, const float* B, BLayout layout, float* C,
          MicroKernel kernel) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    std::fill(C, C + M * N, 0.0f);  // the empty sum: acc = 0.0f and no fma
    return;
  }
  const Index lda = K;
  const Index ldb = layout == BLayout::nk ? K : N;
  const Index ldc = N;
  const Index nc_max = std::min(kNC, (N + kNR - 1) / kNR * kNR);
  const Index mc_max = std::min(kMC, (M + kMR - 1) / kMR * kMR);
  const Index kc_max = std::min(kKC, K);
  Buffer bpack(static_cast<std::size_t>(kc_max * nc_max));
  Buffer apack(static_cast<std::size_t>(kc_max * mc_max + kPackSlack));
  alignas(32) float scratch[kMR * kNR];

  for (Index jc = 0; jc < N; jc += kNC) {
    const Index nc = std::min(kNC, N - jc);
    for (Index pc = 0; pc < K; pc += kKC) {
      const Index kc = std::min(kKC, K - pc);
      // pc > 0: C already holds the fp32 accumulator after k = pc - 1.
      const bool accumulate = pc > 0;
      pack_b(B, ldb, layout, pc, kc, jc, nc, bpack.data());
      for (Index ic = 0; ic < M; ic += kMC) {
        const Index mc = std::min(kMC, M - ic);
        pack_a(A, lda, ic, mc, pc, kc, apack.data());
        for (Index jr = 0; jr < nc; jr += kNR) {
          const Index nr = std::min(kNR, nc - jr);
          const float* bp = bpack.data() + jr * kc;
          for (Index ir = 0; ir < mc; ir += kMR) {
            const Index mr = std::min(kMR, mc - ir);
            const float* ap = apack.data() + ir * kc;
            float* c = C + (ic + ir) * ldc + jc + jr;
            if (mr == kMR && nr == kNR) {
              kernel(kc, ap, bp, c, ldc, accumulate);
              continue;
            }
            // Edge tile: run the full kernel on a scratch tile and copy the
            // valid mr x nr corner in and out; padded lanes are discarded.
            for (Index r = 0; r < mr; ++r)
              for (Index j = 0; j < nr; ++j) scratch[r * kNR + j] = accumulate ? c[r * ldc + j] : 0.0f;
            kernel(kc, ap, bp, scratch, kNR, accumulate);
            for (Index r = 0; r < mr; ++r)
              for (Index j = 0; j < nr; ++j) c[r * ldc + j] = scratch[r * kNR + j];
          }
        }
      }
    }
  }
}

// "(rows, cols)", built with a stream: GCC 12 at -O3 gives a false
// -Wrestrict warning on the inlined `"(" + std::to_string(...)` chain
// (GCC bug 105651), and this file must compile warning-free.
std::string shape_of(Index rows, Index cols) {
  std::ostringstream os;
  os << '(' << rows << ", " << cols << ')';
  return os.str();
}

std::string shape_of(const Matrix& m) { return shape_of(m.rows(), m.cols()); }

[[noreturn]] void throw_shape(const char* fn, const std::string& what) {
  std::string msg = "atp::";
  msg += fn;
  msg += ": ";
  msg += what;
  throw std::invalid_argument(msg);
}

}  // namespace

namespace detail {

Matrix matmul_nt(const Matrix& A, const Matrix& B, MatmulKernel which) {
  if (A.cols() != B.cols())
    throw_shape("matmul_nt", "A is (M, K) = " + shape_of(A) + " and B is (N, K) = " +
                                 shape_of(B) + "; B must have " + std::to_string(A.cols()) +
                                 " columns (A's K) to compute A B^T");
  Matrix C(A.rows(), B.rows());
  gemm(A.rows(), B.rows(), A.cols(), A.data(), B.data(), BLayout::nk, C.data(),
       pick_kernel(which));
  return C;
}

Matrix matmul_nn(const Matrix& A, const Matrix& B, MatmulKernel which) {
  if (A.cols() != B.rows())
    throw_shape("matmul_nn", "A is (M, K) = " + shape_of(A) + " and B is (K, N) = " +
                                 shape_of(B) + "; B must have " + std::to_string(A.cols()) +
                                 " rows (A's K) to compute A B");
  Matrix C(A.rows(), B.cols());
  gemm(A.rows(), B.cols(), A.cols(), A.data(), B.data(), BLayout::kn, C.data(),
       pick_kernel(which));
  return C;
}

bool matmul_has_avx2_kernel() { return ATP_MATMUL_AVX2 != 0; }

}  // namespace detail

Matrix matmul_nt(const Matrix& A, const Matrix& B) {
  return detail::matmul_nt(A, B, detail::MatmulKernel::best);
}

Matrix matmul_nn(const Matrix& A, const Matrix& B) {
  return detail::matmul_nn(A, B, detail::MatmulKernel::best);
}

Matrix linear(const Matrix& x, const Matrix& W, const Matrix* bias) {
  if (x.cols() != W.cols())
    throw_shape("linear", "x is (T, in) = " + shape_of(x) + " and W is (out, in) = " +
                              shape_of(W) + "; W must have " + std::to_string(x.cols()) +
                              " columns (x's in) to compute x W^T");
  if (bias != nullptr && (bias->rows() != 1 || bias->cols() != W.rows()))
    throw_shape("linear", "bias is " + shape_of(*bias) + " but W is (out, in) = " +
                              shape_of(W) + "; the bias must be (1, out) = " +
                              shape_of(1, W.rows()) + " or nullptr");
  Matrix y = matmul_nt(x, W);
  if (bias != nullptr) {
    // One plain add per element, after the fma chain is complete.
    for (Index t = 0; t < y.rows(); ++t)
      for (Index o = 0; o < y.cols(); ++o) y(t, o) = y(t, o) + (*bias)(0, o);
  }
  return y;
}

}  // namespace atp
