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
/// Reading is header first: the preamble and the header dict (at most 1 MiB)
/// are parsed, the file's size is checked against what the header promises,
/// and only then are exactly those bytes read, straight into the result. A
/// file with trailing bytes, a huge sparse file behind a small valid header,
/// or a device such as /dev/zero is refused without being read; a genuine
/// tensor larger than the memory budget (memory_budget.hpp) is refused
/// before it is allocated. The header grammar is NumPy's literal as numpy.save
/// writes it (keys 'descr', 'fortran_order', 'shape', each exactly once;
/// strings in ' or "; only spaces, tabs and newlines between tokens);
/// notebooks/atp_dump.py parses the same grammar, so both readers accept and
/// refuse the same files.
///
/// Writing goes through write_file_replacing() (file_write.hpp): a symbolic
/// link at the target is refused, never followed, and a failed write leaves
/// the old file (or none), never half a new one.
///
/// Errors: a file that cannot be opened, read or written throws
/// `std::runtime_error`; a file whose contents are not what is asked for
/// (bad magic, dtype, order, shape, truncated or trailing bytes, not a
/// regular file, a link at the write target) throws `std::invalid_argument`.
/// Both messages name the file and the problem.
#pragma once

#include "atp/tensor.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
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

/// Writes `m` (R, C) as a 2-D float32 C-order `.npy` file, replacing `path`.
/// The bytes equal what `numpy.save(path, a)` writes for the same float32 array.
/// Throws std::invalid_argument if `path` is a symbolic link or not a regular
/// file, std::runtime_error if the file cannot be written.
void write_npy(const std::filesystem::path& path, const Matrix& m);

/// Writes `v` (N) as a 1-D int64 (`'<i8'`) `.npy` file, e.g. token ids.
/// Throws as write_npy().
void write_npy_i64(const std::filesystem::path& path, const std::vector<std::int64_t>& v);

/// Parses and checks the preamble and header dict of a `.npy` file (any
/// dtype and rank; the data is not checked). Throws std::invalid_argument for
/// a malformed header.
NpyHeader read_npy_header(const std::filesystem::path& path);

/// Reads a float32 C-order `.npy` file of rank 2 (R, C) or rank 1 (N), the
/// latter as a (1, N) matrix (vectors are 1-row matrices in this book).
/// Refuses any other dtype, Fortran order, other ranks, truncated or
/// over-long data with std::invalid_argument naming the file and the problem.
/// If `header` is given it receives the parsed header (e.g. to tell (N,) from (1, N)).
Matrix read_npy(const std::filesystem::path& path, NpyHeader* header = nullptr);

/// Reads a 1-D int64 (`'<i8'`) `.npy` file, as written by write_npy_i64().
/// Refuses anything else with std::invalid_argument.
std::vector<std::int64_t> read_npy_i64(const std::filesystem::path& path);

/// read_npy_header() of the bytes of a `.npy` file held in memory; `name`
/// stands for the file in messages. (The fuzzers and tests use these.)
NpyHeader read_npy_header_bytes(std::string_view bytes, const std::string& name);

/// read_npy() of the bytes of a `.npy` file held in memory.
Matrix read_npy_bytes(std::string_view bytes, const std::string& name, NpyHeader* header = nullptr);

/// read_npy_i64() of the bytes of a `.npy` file held in memory.
std::vector<std::int64_t> read_npy_i64_bytes(std::string_view bytes, const std::string& name);

}  // namespace atp::sim
