/// \file naive_matmul.hpp
/// \brief The canonical summation order written out by hand (NUMERICS.md
///        section 2): one fma chain per output element, k ascending. The
///        matmul tests hold every kernel and thread count to these loops.
#pragma once

#include "atp/tensor.hpp"

#include <cmath>

namespace atp::test {

using Index = Eigen::Index;

// The canonical order, written out by hand: C = A B^T, A (M, K), B (N, K).
inline Matrix naive_nt(const Matrix& A, const Matrix& B) {
  Matrix C(A.rows(), B.rows());
  for (Index i = 0; i < A.rows(); ++i)
    for (Index j = 0; j < B.rows(); ++j) {
      float acc = 0.0f;
      for (Index k = 0; k < A.cols(); ++k) acc = std::fma(A(i, k), B(j, k), acc);
      C(i, j) = acc;
    }
  return C;
}

// The canonical order for C = A B, A (M, K), B (K, N).
inline Matrix naive_nn(const Matrix& A, const Matrix& B) {
  Matrix C(A.rows(), B.cols());
  for (Index i = 0; i < A.rows(); ++i)
    for (Index j = 0; j < B.cols(); ++j) {
      float acc = 0.0f;
      for (Index k = 0; k < A.cols(); ++k) acc = std::fma(A(i, k), B(k, j), acc);
      C(i, j) = acc;
    }
  return C;
}

}  // namespace atp::test
