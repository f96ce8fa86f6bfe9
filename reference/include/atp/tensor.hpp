/// \file tensor.hpp
/// \brief The one tensor type of the book: a row-major fp32 Eigen matrix.
///
/// Every activation is (tokens, features) and every weight is (out, in), as
/// in PyTorch's `nn.Linear` (y = x W^T + b). Row-major storage means a matrix
/// is laid out exactly like a C-order NumPy array, so dumps and device copies
/// are plain memcpy. Vectors are 1-row matrices. Float64 twins exist only for
/// the dense reference used in tolerance checks.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <string>

namespace atp {

/// fp32 row-major matrix: the storage of every tensor in a bitwise path.
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// fp64 row-major matrix: the dense reference, for tolerance checks only.
using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// "(rows, cols)", the way shapes are printed everywhere in the book.
inline std::string shape_string(Eigen::Index rows, Eigen::Index cols) {
  // Appends rather than chained operator+: GCC 12 warns falsely (-Wrestrict, bug 105651) on the latter.
  std::string s = "(";
  s += std::to_string(rows);
  s += ", ";
  s += std::to_string(cols);
  s += ')';
  return s;
}

/// Shape of a matrix as "(rows, cols)".
template <class Derived>
std::string shape_string(const Eigen::EigenBase<Derived>& m) {
  return shape_string(m.rows(), m.cols());
}

/// Bytes of fp32 storage a matrix of this shape occupies.
inline std::int64_t fp32_bytes(Eigen::Index rows, Eigen::Index cols) {
  return static_cast<std::int64_t>(rows) * cols * static_cast<std::int64_t>(sizeof(float));
}

}  // namespace atp
