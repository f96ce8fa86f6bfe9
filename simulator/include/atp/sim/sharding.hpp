/// \file sharding.hpp
/// \brief Splitting a master tensor into per-rank shards, and putting shards back together.
///
/// STYLE habit 7: build the master weight once and shard it by slicing. For a
/// (R, C) matrix W and p ranks:
///
///     split_rows: W_r = rows [r*R/p, (r+1)*R/p) of W, shape (R/p, C)
///     split_cols: W_r = cols [r*C/p, (r+1)*C/p) of W, shape (R, C/p)
///
///           split_cols (p = 2)          split_rows (p = 2)
///         +--------+--------+          +-----------------+
///         |        |        |          |       W_0       |
///         |  W_0   |  W_1   |          +-----------------+
///         |        |        |          |       W_1       |
///         +--------+--------+          +-----------------+
///
/// Splits are even or refused, like Megatron-LM's `divide()`: an uneven split
/// is a configuration error, reported with the dimension and p. Leaves out:
/// padding (vocabulary padding to a multiple of 64 belongs to chapter 6).
#pragma once

#include "atp/sim/per_rank.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <string>

namespace atp::sim {

/// Which dimension of a (rows, cols) matrix an operation splits or joins.
enum class Axis {
  Rows,  ///< dimension 0: stack blocks vertically
  Cols   ///< dimension 1: place blocks side by side
};

/// "rows" or "cols".
const char* axis_name(Axis axis);

/// n / p, or std::invalid_argument naming `what`, n and p if p does not divide n
/// (or p < 1, or n < 0). Megatron-LM's `divide()`.
std::int64_t divide(std::int64_t n, int p, const std::string& what);

/// p row blocks of m: rank r gets rows [r*R/p, (r+1)*R/p). Throws unless p divides R.
PerRank<Matrix> split_rows(const Matrix& m, int p);
/// p column blocks of m: rank r gets cols [r*C/p, (r+1)*C/p). Throws unless p divides C.
PerRank<Matrix> split_cols(const Matrix& m, int p);
/// split_rows or split_cols, by axis.
PerRank<Matrix> split(const Matrix& m, int p, Axis axis);
/// p copies of m (what every rank holds of a replicated tensor).
PerRank<Matrix> replicate(const Matrix& m, int p);

/// The blocks stacked in rank order: (sum of rows, C). Throws unless all
/// blocks have the same number of columns (names the rank and both shapes).
Matrix concat_rows(const PerRank<Matrix>& blocks);
/// The blocks side by side in rank order: (R, sum of cols). Throws unless all
/// blocks have the same number of rows (names the rank and both shapes).
Matrix concat_cols(const PerRank<Matrix>& blocks);
/// concat_rows or concat_cols, by axis.
Matrix concat(const PerRank<Matrix>& blocks, Axis axis);

}  // namespace atp::sim
