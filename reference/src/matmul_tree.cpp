/// \file matmul_tree.cpp
/// \brief The tree-ordered product: matmul_nt per K segment, then the
///        balanced tree of plain adds (matmul_tree.hpp).
#include "atp/matmul_tree.hpp"

#include "atp/matmul_cpu.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace atp {
namespace {

std::string divisor_segments(Eigen::Index K) {
  std::string list;
  for (int s = 1; s <= kMaxTreeLeaves; s *= 2)
    if (K % s == 0) list += (list.empty() ? "" : ", ") + std::to_string(s);
  return list.empty() ? "none" : list;
}

}  // namespace

TreeSplit tree_split(Eigen::Index K, int segments, const std::string& what) {
  if (!is_power_of_two(segments) || segments > kMaxTreeLeaves)
    throw std::invalid_argument(what + ": tree segments " + std::to_string(segments) +
                                " must be a power of two from 1 to " + std::to_string(kMaxTreeLeaves) +
                                " (the tree is a balanced binary tree over the segments)");
  if (K < 0 || K % segments != 0)
    throw std::invalid_argument(what + ": the reduced dimension " + std::to_string(K) + " does not split into " +
                                std::to_string(segments) + " equal tree segments; segment counts that divide " +
                                std::to_string(K) + ": " + divisor_segments(K) +
                                " (or pad the dimension with zeros to a multiple of " + std::to_string(segments) + ")");
  return {K, segments, K / segments};
}

std::string valid_tree_tp_list(int segments) {
  std::string list;
  for (int p = 1; p <= segments; p *= 2) list += (list.empty() ? "" : ", ") + std::to_string(p);
  return list;
}

void check_tree_tp(int segments, int p, const std::string& what) {
  if (p < 1 || segments % p != 0)
    throw std::invalid_argument(what + ": tp " + std::to_string(p) + " does not divide the " +
                                std::to_string(segments) +
                                " tree segments, so rank boundaries would cut segments and the sum order would "
                                "depend on tp; the tree order admits tp " + valid_tree_tp_list(segments));
}

std::vector<Matrix> split_segments(const Matrix& m, int segments) {
  const TreeSplit split = tree_split(m.cols(), segments, "split_segments " + shape_string(m));
  std::vector<Matrix> out;
  out.reserve(static_cast<std::size_t>(segments));
  for (int s = 0; s < segments; ++s) out.emplace_back(m.middleCols(s * split.length, split.length));
  return out;
}

Matrix tree_sum(const std::vector<Matrix>& parts) {
  const auto n = static_cast<long long>(parts.size());
  if (!is_power_of_two(n) || n > kMaxTreeLeaves)
    throw std::invalid_argument("tree_sum: " + std::to_string(n) + " parts; the balanced tree needs a power of two "
                                "(1, 2, 4, 8, ...) up to " + std::to_string(kMaxTreeLeaves));
  for (std::size_t i = 1; i < parts.size(); ++i)
    if (parts[i].rows() != parts[0].rows() || parts[i].cols() != parts[0].cols())
      throw std::invalid_argument("tree_sum: part " + std::to_string(i) + " is " + shape_string(parts[i]) +
                                  " but part 0 is " + shape_string(parts[0]) + "; all parts need one shape");
  // Chunk by chunk through a small buffer [leaf][chunk], so nothing large is allocated; within a
  // chunk, the levels of atp::tree_level, left operand first.
  constexpr Eigen::Index kChunk = 256;
  const std::size_t leaves = parts.size();
  Matrix out(parts[0].rows(), parts[0].cols());
  const Eigen::Index total = out.size();
  std::vector<float> v(leaves * static_cast<std::size_t>(kChunk));
  for (Eigen::Index begin = 0; begin < total; begin += kChunk) {
    const Eigen::Index len = std::min(kChunk, total - begin);
    if (leaves == 1) {
      std::copy_n(parts[0].data() + begin, len, v.data());
    } else {  // level 1 straight from the inputs, so they are read once and never copied
      for (std::size_t i = 0; i < leaves; i += 2) {
        const float* a = parts[i].data() + begin;
        const float* b = parts[i + 1].data() + begin;
        float* d = v.data() + i * kChunk;
        for (Eigen::Index k = 0; k < len; ++k) d[k] = a[k] + b[k];
      }
    }
    for (std::size_t width = 2; width < leaves; width *= 2)
      for (std::size_t i = 0; i + width < leaves; i += 2 * width) {
        float* a = v.data() + i * kChunk;
        const float* b = v.data() + (i + width) * kChunk;
        for (Eigen::Index k = 0; k < len; ++k) a[k] = a[k] + b[k];
      }
    std::copy_n(v.data(), len, out.data() + begin);
  }
  return out;
}

Matrix matmul_nt_tree(const Matrix& A, const std::vector<Matrix>& B_segments) {
  const int S = static_cast<int>(B_segments.size());
  if (S < 1) throw std::invalid_argument("matmul_nt_tree: B has no segments; pass at least one");
  const Eigen::Index L = B_segments[0].cols();
  for (int s = 1; s < S; ++s)
    if (B_segments[s].rows() != B_segments[0].rows() || B_segments[s].cols() != L)
      throw std::invalid_argument("matmul_nt_tree: B segment " + std::to_string(s) + " is " +
                                  shape_string(B_segments[s]) + " but segment 0 is " + shape_string(B_segments[0]));
  const TreeSplit split = tree_split(A.cols(), S, "matmul_nt_tree: A " + shape_string(A));
  if (split.length != L)
    throw std::invalid_argument("matmul_nt_tree: A " + shape_string(A) + " cut into " + std::to_string(S) +
                                " segments gives " + std::to_string(split.length) + " columns each, but B's segments have " +
                                std::to_string(L));
  std::vector<Matrix> partials;
  partials.reserve(static_cast<std::size_t>(S));
  for (int s = 0; s < S; ++s) partials.push_back(matmul_nt(Matrix(A.middleCols(s * L, L)), B_segments[s]));
  return tree_sum(partials);
}

Matrix matmul_nt_tree(const Matrix& A, const Matrix& B, int segments) {
  if (A.cols() != B.cols())
    throw std::invalid_argument("matmul_nt_tree: A " + shape_string(A) + " and B " + shape_string(B) +
                                " need the same number of columns K (C = A B^T)");
  return matmul_nt_tree(A, split_segments(B, segments));
}

Matrix linear_tree(const Matrix& x, const Matrix& W, const Matrix* bias, int segments) {
  if (x.cols() != W.cols())
    throw std::invalid_argument("linear_tree: x " + shape_string(x) + " and W " + shape_string(W) +
                                " disagree on in_features (x.cols() must equal W.cols())");
  if (bias != nullptr && (bias->rows() != 1 || bias->cols() != W.rows()))
    throw std::invalid_argument("linear_tree: bias is " + shape_string(*bias) + "; it must be (1, " +
                                std::to_string(W.rows()) + ")");
  Matrix y = matmul_nt_tree(x, W, segments);
  if (bias != nullptr)
    for (Eigen::Index t = 0; t < y.rows(); ++t)
      for (Eigen::Index o = 0; o < y.cols(); ++o) y(t, o) = y(t, o) + (*bias)(0, o);
  return y;
}

}  // namespace atp
