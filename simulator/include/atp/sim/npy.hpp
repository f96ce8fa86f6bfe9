/// \file npy.hpp
/// \brief Reading and writing NumPy `.npy` files: the on-disk form of every dumped tensor.
///
/// Writes NumPy format version 1.0 exactly as `numpy.save` (NumPy 1.24) does,
/// byte for byte: the 6-byte magic `\x93NUMPY`, version bytes 1 and 0, a
/// little-endian uint16 header length, the header dict
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (R, C), }`, spaces
/// (NumPy's 21-digit growth room, then padding) and a newline so that the data
/// starts at a multiple of 64 bytes, then the raw row-major elements. Because
/// `atp::Matrix` is row-major, the payload is one memcpy of `m.data()`.
///
/// Leaves out: every dtype but little-endian float32 (`'<f4'`) and int64
/// (`'<i8'`) — no bf16, fp16, float64; big-endian hosts (refused at compile
/// time); Fortran order; arrays of rank 0 or above 2; `.npz` archives;
/// memory mapping. Readers accept format versions 1.0 and 2.0 (2.0 only
/// differs by a 4-byte header length); 3.0 (UTF-8 headers) is refused.
///
/// Errors: a file that cannot be opened, read or written throws
/// `std::runtime_error`; a file whose contents are not what is asked for
/// (bad magic, dtype, order, shape, truncated or trailing bytes) throws
/// `std::invalid_argument`. Both messages name the file and the problem.
#pragma once

#include "atp/tensor.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace atp::sim {

/// What a `.npy` header says, as parsed by read_npy_header().
struct NpyHeader {
  int major_version = 1;              ///< Format version, 1 or 2.
  std::string descr;                  ///< NumPy dtype string, e.g. "<f4".
  bool fortran_order = false;         ///< True for column-major data (always refused by the readers).
  std::vector<std::int64_t> shape;    ///< Dimensions, outermost first; empty for a 0-d array.
  std::int64_t data_offset = 0;       ///< Byte offset of the first element (a multiple of 64 when NumPy wrote it).
};

/// Writes `m` (R, C) as a 2-D float32 C-order `.npy` file, overwriting `path`.
/// The bytes equal what `numpy.save(path, a)` writes for the same float32 array.
/// Throws std::runtime_error if the file cannot be written.
void write_npy(const std::filesystem::path& path, const Matrix& m);

/// Writes `v` (N) as a 1-D int64 (`'<i8'`) `.npy` file, e.g. token ids.
/// Throws std::runtime_error if the file cannot be written.
void write_npy_i64(const std::filesystem::path& path, const std::vector<std::int64_t>& v);

/// Parses and checks the preamble and header dict of a `.npy` file (any
/// dtype and rank; the data is not checked). Throws std::invalid_argument for
/// a malformed header.
NpyHeader read_npy_header(const std::filesystem::path& path);

/// Reads a float32 C-order `.npy` file of rank 2 (R, C) or rank 1 (N), the
/// latter as a (1, N) matrix (vectors are 1-row matrices in this book).
/// Refuses any other dtype, Fortran order, other ranks, truncated or
/// over-long data with std::invalid_argument naming the file and the problem.
Matrix read_npy(const std::filesystem::path& path);

/// Reads a 1-D int64 (`'<i8'`) `.npy` file, as written by write_npy_i64().
/// Refuses anything else with std::invalid_argument.
std::vector<std::int64_t> read_npy_i64(const std::filesystem::path& path);

}  // namespace atp::sim
