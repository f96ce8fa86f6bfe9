/// \file tree_order.hpp
/// \brief The blocked tree order (NUMERICS.md section 4, docs/numerics.md
///        section 6): the one sum order that gives the same bits at every
///        tensor-parallel size.
///
/// Letters: K = the reduced dimension, S = segments (a power of two, default
/// 8), L = K / S = segment length, p = ranks (p divides S).
///
/// A dot product over K is computed as
///
///     segment s (0 <= s < S):  P_s = the canonical fma chain over k in [s L, (s+1) L)
///     level 1:                 P_0 + P_1,   P_2 + P_3,   ...          (S/2 sums)
///     level 2:                (P_0 + P_1) + (P_2 + P_3), ...          (S/4 sums)
///     ...                                                             (log2 S levels)
///     root:                    the dot product; a bias is one plain add after it
///
///                            root                        <- upper level (p = 2): the tree all-reduce
///                  .----------'  '----------.
///            (0+1)+(2+3)                (4+5)+(6+7)        <- lower levels (p = 2): rank 0 left,
///           .----'  '----.            .----'  '----.          rank 1 right, each on its own
///         0+1           2+3         4+5           6+7
///        .' '.         .' '.       .' '.         .' '.
///      P_0   P_1     P_2   P_3   P_4   P_5     P_6   P_7    <- segments (S = 8)
///
/// Rank r of p holds the columns [r K/p, (r+1) K/p) of a row-parallel
/// weight: exactly segments [r S/p, (r+1) S/p), a complete subtree. It
/// computes that subtree's root with the lower levels; the p subtree roots
/// are then combined by the upper levels, which is what the tree all-reduce
/// does (partner ranks r and r XOR 2^j add at level j). Every p in {1, 2, 4,
/// ..., S} therefore performs the SAME additions on the SAME values: the
/// result does not depend on p, bit for bit. (p = 3 does not divide S = 8:
/// its rank boundaries would cut segments, so the order is refused.)
///
/// This header has no Eigen and is `ATP_HD`: the CPU and the CUDA kernels
/// run the same loops. The host helpers (matrices, checks with messages) are
/// in matmul_tree.hpp. Leaves out: uneven segments, S that is not a power of two.
#pragma once

#include "atp/numerics.hpp"

namespace atp {

/// The default number of segments: 8, so tp = 1, 2, 4, 8 are all invariant.
inline constexpr int kDefaultTreeSegments = 8;

/// True when n is 1, 2, 4, 8, ... (n >= 1).
ATP_HD inline bool is_power_of_two(long long n) { return n >= 1 && (n & (n - 1)) == 0; }

/// log2 of a power of two n (0 for n = 1).
ATP_HD inline int log2_exact(long long n) {
  int levels = 0;
  while (n > 1) {
    n /= 2;
    ++levels;
  }
  return levels;
}

/// One level of the tree in place: v[i] = v[i] + v[i + width] for i = 0,
/// 2 width, 4 width, ... < n. Level j of the whole tree has width 2^j.
/// The left (lower-index) operand comes first; IEEE addition is commutative,
/// so a partner that computes v[i + width] + v[i] gets the same bits.
ATP_HD inline void tree_level(float* v, int n, int width) {
  for (int i = 0; i + width < n; i += 2 * width) v[i] = v[i] + v[i + width];
}

/// The balanced binary tree over v[0..n-1] (n a power of two): all levels,
/// widths 1, 2, 4, ... < n; returns v[0]. Overwrites v. n = 1 returns v[0].
ATP_HD inline float tree_sum(float* v, int n) {
  for (int width = 1; width < n; width *= 2) tree_level(v, n, width);
  return v[0];
}

/// tree_sum of values laid out with a stride: x[0], x[stride], ..., x[(n-1)
/// stride] (n a power of two, at most `kMaxTreeLeaves`), without changing x.
/// The summing kernel of the tree all-reduce and the tree reduce-scatter
/// (stride = elements per rank) uses it, as the simulator does.
inline constexpr int kMaxTreeLeaves = 64;

/// See kMaxTreeLeaves.
ATP_HD inline float tree_sum_strided(const float* x, long long stride, int n) {
  float v[kMaxTreeLeaves];
  for (int i = 0; i < n; ++i) v[i] = x[static_cast<long long>(i) * stride];
  return tree_sum(v, n);
}

}  // namespace atp
