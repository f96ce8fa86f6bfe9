/// \file matmul_kernels.hpp
/// \brief Private to the CPU matmul: what one instruction set contributes to
/// the blocked product (a register-tile micro-kernel, its packing routines and
/// its cache-block sizes), and the three that exist: portable, AVX2, AVX-512.
///
/// Letters: M, N, K as in matmul_cpu.hpp; MR x NR is the register tile, KC /
/// MC / NC the cache blocks. The loop nest that uses a kernel is in
/// matmul_gemm.cpp; the choice between kernels is in matmul_cpu.cpp.
///
/// The x86 kernels are compiled with GCC/Clang `target` attributes, one
/// function at a time, so every build contains them whatever its -march, and
/// the program picks one at run time from what the CPU reports
/// (`__builtin_cpu_supports`). Left out: NEON and other ISAs (the portable
/// kernel covers them), prefetching, kernels for tiny shapes.
#pragma once

#include <Eigen/Core>

// The x86 kernels need GCC/Clang's per-function `target` attribute and
// `__builtin_cpu_supports`; elsewhere only the portable kernel is built.
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define ATP_GEMM_X86 1
#define ATP_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define ATP_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#define ATP_GEMM_X86 0
#endif

namespace atp::cpu_gemm {

using Index = Eigen::Index;

/// How the logical (K, N) operand B is stored.
enum class BLayout {
  nk,  ///< B given as (N, K) row-major: element (k, n) at b[n * ldb + k] (matmul_nt)
  kn   ///< B given as (K, N) row-major: element (k, n) at b[k * ldb + n] (matmul_nn)
};

/// C[0..MR)[0..NR) (row stride ldc) continues its fma chains over kc more k
/// values. Ap holds MR rows of A interleaved (Ap[k*MR + r]), Bp holds NR
/// columns of B interleaved (Bp[k*NR + j]). accumulate = false starts every
/// chain from +0.0f instead of reading C.
using MicroKernel = void (*)(Index kc, const float* Ap, const float* Bp, float* C, Index ldc,
                             bool accumulate);

/// Packs the mc x kc block of row-major A at `A` (row stride lda) into panels
/// of `mr` rows, k-major inside a panel (panel[k*mr + r]); rows past mc are
/// zero. `out` needs kPackSlack floats of room past the last panel.
using PackA = void (*)(const float* A, Index lda, Index mc, Index kc, Index mr, float* out);

/// Packs the logical block B(k in [0, kc), n in [0, nc)) whose (0, 0) element
/// is at `B` into panels of `nr` columns, k-major inside a panel
/// (panel[k*nr + j]); columns past nc are zero.
using PackB = void (*)(const float* B, Index ldb, BLayout layout, Index kc, Index nc, Index nr,
                       float* out);

/// Floats past a packed A block that a vector PackA may write (and that the
/// next panel, or nobody, overwrites).
inline constexpr Index kPackSlack = 8;

/// Largest MR * NR of any kernel: the size of the edge-tile scratch buffer.
inline constexpr Index kMaxTile = 16 * 32;

/// One instruction set's contribution to the blocked product. Any two
/// kernels give the same bits: the tile and block sizes only decide which
/// elements are computed when, never the order of one element's chain.
struct GemmKernel {
  const char* name;   ///< "portable", "avx2", "avx512": what ATP_MATMUL_KERNEL accepts
  const char* isa;    ///< the instructions it uses, for people: "AVX-512F + FMA"
  Index mr, nr;       ///< register tile (MR rows of C by NR columns)
  Index kc, mc, nc;   ///< cache blocks: K depth, rows of A, columns of B
  MicroKernel micro;  ///< the MR x NR micro-kernel
  PackA pack_a;       ///< packs A into MR-row panels
  PackB pack_b;       ///< packs B into NR-column panels
};

/// Plain C++ with std::fma, 6 x 16: runs anywhere and is the reference kernel.
const GemmKernel& portable_kernel();

/// AVX2 + FMA, 6 x 16 (12 ymm accumulators); nullptr if not compiled in (not x86).
const GemmKernel* avx2_kernel();

/// AVX-512F, 6 x 64 (24 zmm accumulators); nullptr if not compiled in.
const GemmKernel* avx512_kernel();

/// Scalar packers for any MR / NR (the portable kernel's; the x86 kernels
/// use them for the (K, N) layout of B, which needs no transpose).
void pack_a_scalar(const float* A, Index lda, Index mc, Index kc, Index mr, float* out);
/// \copydoc pack_a_scalar
void pack_b_scalar(const float* B, Index ldb, BLayout layout, Index kc, Index nc, Index nr,
                   float* out);

/// AVX2 packers (8 x 8 in-register transposes) for MR <= 16 and NR a
/// multiple of 8, shared by the AVX2 and AVX-512 kernels. Only call them on
/// a CPU with AVX2.
void pack_a_avx2(const float* A, Index lda, Index mc, Index kc, Index mr, float* out);
/// \copydoc pack_a_avx2
void pack_b_avx2(const float* B, Index ldb, BLayout layout, Index kc, Index nc, Index nr,
                 float* out);

/// One product: C (M, N) = A (M, K) times the logical (K, N) operand B,
/// all row-major with the given row strides.
struct GemmProblem {
  Index M, N, K;    ///< output rows, output columns, reduced dimension
  const float* A;   ///< (M, K), row stride lda
  Index lda;        ///< row stride of A
  const float* B;   ///< (N, K) or (K, N) as `layout` says, row stride ldb
  Index ldb;        ///< row stride of B
  BLayout layout;   ///< how B is stored
  float* C;         ///< (M, N), row stride ldc: written, never read first
  Index ldc;        ///< row stride of C
};

/// How many parts gemm() splits `problem` into for `threads` threads: at
/// most one per register tile along the split dimension (see matmul_gemm.cpp).
int gemm_parts(const GemmKernel& kernel, Index M, Index N, int threads);

/// Computes `problem` with `kernel`, its output tiles split into `parts`
/// parts (from gemm_parts), one thread each. The bits do not depend on
/// `parts`: every element's chain is computed whole by one thread.
void gemm(const GemmKernel& kernel, const GemmProblem& problem, int parts);

}  // namespace atp::cpu_gemm
