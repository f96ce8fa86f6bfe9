/// \file sharding.cpp
/// \brief Even splits of a master matrix into shards, and their concatenation.
#include "atp/sim/sharding.hpp"

#include <stdexcept>

namespace atp::sim {

const char* axis_name(Axis axis) { return axis == Axis::Rows ? "rows" : "cols"; }

std::int64_t divide(std::int64_t n, int p, const std::string& what) {
  if (p < 1) throw std::invalid_argument(what + ": cannot split across p = " + std::to_string(p) + " ranks; p must be >= 1");
  if (n < 0) throw std::invalid_argument(what + ": size " + std::to_string(n) + " is negative");
  if (n % p != 0)
    throw std::invalid_argument(what + " = " + std::to_string(n) + " is not divisible by p = " + std::to_string(p) +
                                "; it must be a multiple of " + std::to_string(p));
  return n / p;
}

PerRank<Matrix> split_rows(const Matrix& m, int p) {
  const auto rows = divide(m.rows(), p, "split_rows: rows of " + shape_string(m));
  return make_per_rank(p, [&](int r) -> Matrix { return m.middleRows(r * rows, rows); });
}

PerRank<Matrix> split_cols(const Matrix& m, int p) {
  const auto cols = divide(m.cols(), p, "split_cols: cols of " + shape_string(m));
  return make_per_rank(p, [&](int r) -> Matrix { return m.middleCols(r * cols, cols); });
}

PerRank<Matrix> split(const Matrix& m, int p, Axis axis) {
  return axis == Axis::Rows ? split_rows(m, p) : split_cols(m, p);
}

PerRank<Matrix> replicate(const Matrix& m, int p) {
  if (p < 1) throw std::invalid_argument("replicate: p = " + std::to_string(p) + " ranks; p must be >= 1");
  return PerRank<Matrix>(p, m);
}

namespace {

// Shared by both concatenations: every block must agree on the dimension that is not joined.
Matrix concat_impl(const PerRank<Matrix>& blocks, Axis axis, const char* what) {
  if (blocks.size() < 1) throw std::invalid_argument(std::string(what) + ": no blocks (p = 0)");
  const bool rows = axis == Axis::Rows;
  const Matrix& first = blocks[0];
  Eigen::Index joined = 0;
  for (int r = 0; r < blocks.size(); ++r) {
    const Matrix& b = blocks[r];
    if ((rows ? b.cols() : b.rows()) != (rows ? first.cols() : first.rows()))
      throw std::invalid_argument(std::string(what) + ": rank " + std::to_string(r) + " holds " + shape_string(b) +
                                  " but rank 0 holds " + shape_string(first) + "; every block needs the same number of " +
                                  (rows ? "cols" : "rows"));
    joined += rows ? b.rows() : b.cols();
  }
  Matrix out = rows ? Matrix(joined, first.cols()) : Matrix(first.rows(), joined);
  Eigen::Index at = 0;
  for (const Matrix& b : blocks) {
    if (rows) {
      out.middleRows(at, b.rows()) = b;
      at += b.rows();
    } else {
      out.middleCols(at, b.cols()) = b;
      at += b.cols();
    }
  }
  return out;
}

}  // namespace

Matrix concat_rows(const PerRank<Matrix>& blocks) { return concat_impl(blocks, Axis::Rows, "concat_rows"); }
Matrix concat_cols(const PerRank<Matrix>& blocks) { return concat_impl(blocks, Axis::Cols, "concat_cols"); }
Matrix concat(const PerRank<Matrix>& blocks, Axis axis) {
  return concat_impl(blocks, axis, axis == Axis::Rows ? "concat_rows" : "concat_cols");
}

}  // namespace atp::sim
