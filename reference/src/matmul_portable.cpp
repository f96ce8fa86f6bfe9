/// \file matmul_portable.cpp
/// \brief The portable micro-kernel (plain C++, std::fma) and the scalar
/// packers: the reference every vector kernel must match bit for bit.
///
/// The 6 x 16 tile is the AVX2 kernel's, so the two are the same loop nest
/// written twice; the tests run both (and AVX-512) against the naive loop.
/// Left out: any attempt at speed; this kernel is for CPUs without AVX2 and
/// for proving the vector kernels right.
#include "matmul_kernels.hpp"

#include <cmath>

namespace atp::cpu_gemm {
namespace {

constexpr Index kMR = 6;
constexpr Index kNR = 16;

// acc[r][j] is one output element's chain: it starts at +0.0f or at the
// value C holds after the previous K block, then takes one fma per k,
// k ascending. That is the whole contract; everything else is bookkeeping.
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

}  // namespace

void pack_a_scalar(const float* A, Index lda, Index mc, Index kc, Index mr, float* out) {
  for (Index i0 = 0; i0 < mc; i0 += mr) {
    const Index rows = i0 + mr <= mc ? mr : mc - i0;
    float* panel = out + i0 * kc;
    for (Index r = 0; r < mr; ++r) {
      const float* src = A + (i0 + r) * lda;
      if (r < rows)
        for (Index k = 0; k < kc; ++k) panel[k * mr + r] = src[k];
      else
        for (Index k = 0; k < kc; ++k) panel[k * mr + r] = 0.0f;
    }
  }
}

void pack_b_scalar(const float* B, Index ldb, BLayout layout, Index kc, Index nc, Index nr,
                   float* out) {
  for (Index j0 = 0; j0 < nc; j0 += nr) {
    const Index cols = j0 + nr <= nc ? nr : nc - j0;
    float* panel = out + j0 * kc;
    for (Index k = 0; k < kc; ++k) {
      float* dst = panel + k * nr;
      Index j = 0;
      if (layout == BLayout::kn)
        for (; j < cols; ++j) dst[j] = B[k * ldb + j0 + j];  // a row of B: a plain copy
      else
        for (; j < cols; ++j) dst[j] = B[(j0 + j) * ldb + k];  // a column: a transpose
      for (; j < nr; ++j) dst[j] = 0.0f;
    }
  }
}

const GemmKernel& portable_kernel() {
  // Blocks as the AVX2 kernel's (see matmul_avx2.cpp); speed is not the point here.
  static const GemmKernel kernel{.name = "portable",
                                 .isa = "C++ std::fma",
                                 .mr = kMR,
                                 .nr = kNR,
                                 .kc = 256,
                                 .mc = 144,
                                 .nc = 1024,
                                 .micro = kernel_portable,
                                 .pack_a = pack_a_scalar,
                                 .pack_b = pack_b_scalar};
  return kernel;
}

}  // namespace atp::cpu_gemm
