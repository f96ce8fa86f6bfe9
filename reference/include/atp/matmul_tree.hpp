/// \file matmul_tree.hpp
/// \brief The tree-ordered matrix product on the CPU: atp::matmul_nt on each
///        of S slices of K, then the balanced tree over the S partial
///        products (tree_order.hpp). The same bits at every tp that divides S.
///
/// Letters: M = rows (tokens), N = output features, K = reduced dimension,
/// S = segments, L = K / S, p = ranks.
///
///     A (M, K) = [ A_0 | A_1 | ... | A_{S-1} ]     A_s = cols [s L, (s+1) L)
///     B (N, K) = [ B_0 | B_1 | ... | B_{S-1} ]
///     P_s = atp::matmul_nt(A_s, B_s)   (M, N): the canonical fma chain over segment s
///     C   = tree_sum(P_0, ..., P_{S-1})          elementwise, level by level
///
/// Built only on the public matmul API (matmul_cpu.hpp) and plain adds, so
/// any faster kernel that keeps matmul_nt's bits keeps these too. A
/// row-parallel rank calls the same function on its own columns: its S/p
/// segments form a complete subtree, so its result is exactly the partial
/// the upper levels (the tree all-reduce) expect.
///
/// Left out: uneven segments; fusing the tree into the matmul kernel (the
/// price of not doing so is measured in bench/bench_invariant.cpp).
#pragma once

#include "atp/tensor.hpp"
#include "atp/tree_order.hpp"

#include <string>
#include <vector>

namespace atp {

/// K cut into `segments` equal slices of `length` columns.
struct TreeSplit {
  Eigen::Index K = 0;       ///< the reduced dimension
  int segments = 1;         ///< S, a power of two
  Eigen::Index length = 0;  ///< L = K / S
};

/// Checks and returns the split of K into S segments.
/// \throws std::invalid_argument naming `what`, K and S unless S is a power
///         of two in [1, kMaxTreeLeaves] that divides K; the message lists the
///         segment counts that would divide K.
TreeSplit tree_split(Eigen::Index K, int segments, const std::string& what);

/// "1, 2, 4, 8": every tp the tree order with S segments admits (the powers of two up to S).
std::string valid_tree_tp_list(int segments);

/// Checks that p ranks can share S segments (p >= 1 divides S).
/// \throws std::invalid_argument naming `what`, p and S, saying why (rank
///         boundaries would cut segments) and listing the valid tp.
void check_tree_tp(int segments, int p, const std::string& what);

/// The S column blocks of m (rows, cols) as separate contiguous matrices
/// (rows, cols / S). \throws std::invalid_argument as tree_split.
std::vector<Matrix> split_segments(const Matrix& m, int segments);

/// The balanced tree over equally shaped matrices, element by element:
/// level widths 1, 2, 4, ...; parts[i] = parts[i] + parts[i + width]
/// (computed chunk by chunk, the inputs left unchanged).
/// \throws std::invalid_argument unless there is a power-of-two number
///         (1 to kMaxTreeLeaves) of parts, all of one shape (names the index and shapes).
Matrix tree_sum(const std::vector<Matrix>& parts);

/// C = A B^T (A (M, K), B (N, K)) in the blocked tree order over S segments.
/// \throws std::invalid_argument if A.cols() != B.cols() or as tree_split.
Matrix matmul_nt_tree(const Matrix& A, const Matrix& B, int segments);

/// matmul_nt_tree with B already cut into its S segments (split_segments),
/// as a layer keeps its weight: A (M, K), B_segments[s] (N, K/S).
/// \throws std::invalid_argument naming the shapes if they do not fit.
Matrix matmul_nt_tree(const Matrix& A, const std::vector<Matrix>& B_segments);

/// y = x W^T (+ bias) in the tree order: the bias is one plain add after the root.
/// x (T, in), W (out, in), bias (1, out) or nullptr.
/// \throws std::invalid_argument for mismatched shapes or as tree_split.
Matrix linear_tree(const Matrix& x, const Matrix& W, const Matrix* bias, int segments);

}  // namespace atp
