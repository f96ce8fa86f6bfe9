/// \file matmul_gemm.cpp
/// \brief The loop nest around a micro-kernel (BLIS-style blocking and
/// packing) and the split of the output tiles across threads.
///
/// Why the bits cannot change (the whole point of the CPU matmul):
///
///  1. Each output element C(i, j) lives in one SIMD lane of one register
///     from the first k of a K block to its last (see the kernels). Lanes
///     never mix: no horizontal sum, no reassociation.
///  2. A vector fma rounds once per lane, exactly like std::fma, and
///     -ffp-contract=off stops the compiler fusing anything else.
///  3. K blocking: after a K block the accumulator is stored to C as fp32 and
///     reloaded as fp32 for the next block. A float round-trips through
///     memory unchanged, so the chain `acc = fma(a[k], b[k], acc)` simply
///     continues, k still ascending. Nothing is added to C; C IS the
///     accumulator between blocks. (Split-K, where two partial chains are
///     added, is what would break the order: never done.) So any KC gives
///     the same bits, and each kernel may pick its own.
///  4. The first K block starts from +0.0f, as the naive loop does (not from
///     the first product, which differs when that product is -0.0f).
///  5. M/N blocking, the register tile and packing only decide which
///     elements are computed when and where the operands sit; they move
///     bits, never round them. Edge tiles are padded with zero rows/columns
///     whose results are thrown away; K is never padded.
///  6. Threads own disjoint sets of whole output tiles and run the complete
///     K loop for them, so each element's chain is computed by one thread,
///     start to end, whatever the thread count.
///
/// Left out: a shared packed B between threads (each thread packs what it
/// needs; simpler, and the duplicated packing is a few percent), prefetch.
#include "matmul_kernels.hpp"
#include "parallel_for.hpp"

#include <algorithm>
#include <memory>
#include <new>

namespace atp::cpu_gemm {
namespace {

// 64-byte aligned scratch for packed panels (one cache line, one zmm).
struct AlignedDelete {
  void operator()(float* p) const { ::operator delete[](p, std::align_val_t{64}); }
};
using PackBuffer = std::unique_ptr<float[], AlignedDelete>;

PackBuffer make_pack_buffer(Index floats) {
  void* p = ::operator new[](static_cast<std::size_t>(floats) * sizeof(float), std::align_val_t{64});
  return PackBuffer(static_cast<float*>(p));
}

// The address of logical element B(k, n).
const float* b_at(const GemmProblem& p, Index k, Index n) {
  return p.layout == BLayout::nk ? p.B + n * p.ldb + k : p.B + k * p.ldb + n;
}

// One thread's share: the whole product, for the rows and columns in `p`.
// The loop order is BLIS's (jc, pc, ic, jr, ir): a packed B block is reused
// across all of M, a packed A block across the whole N block, and one B
// micro-panel stays in L1 while the kernel walks down A's panels. Every
// (i, j) sees its K blocks in ascending pc order, which is all the canonical
// order needs (point 3 above).
void gemm_block(const GemmKernel& kn, const GemmProblem& p) {
  const Index MR = kn.mr, NR = kn.nr;
  // Whole panels: a block's last panel is padded even when NC or MC is not
  // a multiple of the tile.
  const Index nc_max = (std::min(kn.nc, p.N) + NR - 1) / NR * NR;
  const Index mc_max = (std::min(kn.mc, p.M) + MR - 1) / MR * MR;
  const Index kc_max = std::min(kn.kc, p.K);
  const PackBuffer bpack = make_pack_buffer(kc_max * nc_max);
  const PackBuffer apack = make_pack_buffer(kc_max * mc_max + kPackSlack);
  alignas(64) float scratch[kMaxTile];

  for (Index jc = 0; jc < p.N; jc += kn.nc) {
    const Index nc = std::min(kn.nc, p.N - jc);
    for (Index pc = 0; pc < p.K; pc += kn.kc) {
      const Index kc = std::min(kn.kc, p.K - pc);
      const bool accumulate = pc > 0;  // C holds the fp32 chain after k = pc - 1
      kn.pack_b(b_at(p, pc, jc), p.ldb, p.layout, kc, nc, NR, bpack.get());
      for (Index ic = 0; ic < p.M; ic += kn.mc) {
        const Index mc = std::min(kn.mc, p.M - ic);
        kn.pack_a(p.A + ic * p.lda + pc, p.lda, mc, kc, MR, apack.get());
        for (Index jr = 0; jr < nc; jr += NR) {
          const Index nr = std::min(NR, nc - jr);
          const float* bp = bpack.get() + jr * kc;
          for (Index ir = 0; ir < mc; ir += MR) {
            const Index mr = std::min(MR, mc - ir);
            const float* ap = apack.get() + ir * kc;
            float* c = p.C + (ic + ir) * p.ldc + jc + jr;
            if (mr == MR && nr == NR) {
              kn.micro(kc, ap, bp, c, p.ldc, accumulate);
              continue;
            }
            // Edge tile: run the full kernel on a scratch tile and copy the
            // valid mr x nr corner in and out; padded lanes are discarded.
            for (Index r = 0; r < mr; ++r)
              for (Index j = 0; j < nr; ++j) scratch[r * NR + j] = accumulate ? c[r * p.ldc + j] : 0.0f;
            kn.micro(kc, ap, bp, scratch, NR, accumulate);
            for (Index r = 0; r < mr; ++r)
              for (Index j = 0; j < nr; ++j) c[r * p.ldc + j] = scratch[r * NR + j];
          }
        }
      }
    }
  }
}

// Which dimension the threads split. Splitting N (columns) makes every
// thread pack all of A; splitting M makes every thread pack all of B. So
// split the longer side, which duplicates the smaller operand, unless it
// has too few tiles to go round.
bool split_along_n(const GemmKernel& kn, Index M, Index N, int threads) {
  const Index tiles_m = (M + kn.mr - 1) / kn.mr, tiles_n = (N + kn.nr - 1) / kn.nr;
  if (M <= N) return tiles_n >= threads || tiles_n >= tiles_m;
  return tiles_m < threads && tiles_n > tiles_m;
}

}  // namespace

int gemm_parts(const GemmKernel& kn, Index M, Index N, int threads) {
  if (M == 0 || N == 0 || threads <= 1) return 1;
  const Index tiles = split_along_n(kn, M, N, threads) ? (N + kn.nr - 1) / kn.nr
                                                       : (M + kn.mr - 1) / kn.mr;
  return static_cast<int>(std::min<Index>(threads, tiles));
}

void gemm(const GemmKernel& kn, const GemmProblem& p, int parts) {
  if (p.M == 0 || p.N == 0) return;
  if (p.K == 0) {  // the empty sum: acc = 0.0f and no fma
    for (Index i = 0; i < p.M; ++i) std::fill(p.C + i * p.ldc, p.C + i * p.ldc + p.N, 0.0f);
    return;
  }
  if (parts <= 1) {
    gemm_block(kn, p);
    return;
  }
  // Part t gets tiles [t * tiles / parts, (t + 1) * tiles / parts): whole
  // register tiles, so only the last part has an edge tile.
  const bool along_n = split_along_n(kn, p.M, p.N, parts);
  const Index tile = along_n ? kn.nr : kn.mr;
  const Index extent = along_n ? p.N : p.M;
  const Index tiles = (extent + tile - 1) / tile;
  parallel_for(parts, [&](int t) {
    const Index begin = std::min(extent, tiles * t / parts * tile);
    const Index end = std::min(extent, tiles * (t + 1) / parts * tile);
    GemmProblem part = p;
    if (along_n) {
      part.N = end - begin;
      part.B = b_at(p, 0, begin);
      part.C = p.C + begin;
    } else {
      part.M = end - begin;
      part.A = p.A + begin * p.lda;
      part.C = p.C + begin * p.ldc;
    }
    if (part.M > 0 && part.N > 0) gemm_block(kn, part);
  });
}

}  // namespace atp::cpu_gemm
