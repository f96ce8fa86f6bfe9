/// \file dump.hpp
/// \brief A dump: a directory of `.npy` tensors plus `manifest.json`, for notebooks and tools.
///
/// A chapter run writes its inputs, weights, per-rank shards, intermediates
/// and outputs with a Dumper; `notebooks/atp_dump.py` (or load_manifest() /
/// load_tensor() here) reads them back and checks every file against the
/// manifest. Layout of a dump directory:
///
///     DIR/manifest.json      the index below
///     DIR/<name>.npy         one tensor per entry, written by write_npy()
///
/// `manifest.json` (format "atp-dump", version 2), keys in this order:
///
///     {"format": "atp-dump", "version": 2, "complete": true,
///      "config": { ...whatever the caller passed... },
///      "tensors": [ {"name": "x", "file": "x.npy", "role": "input",
///                    "rank": -1, "shape": [4, 8], "dtype": "float32",
///                    "fnv1a64": "cbf29ce484222325"}, ... ]}
///
/// `tensors` is in insertion order. `rank` is -1 for a global (full) tensor
/// and r for rank r's piece. `shape` is [rows, cols] for float32 tensors
/// and [n] for int64 vectors (dtype "int64"). `fnv1a64` is the 64-bit FNV-1a
/// hash of the raw little-endian data bytes (the `.npy` payload, header
/// excluded) as 16 lowercase hex digits: cheap, dependency-free in Python,
/// and equal for two tensors exactly when their bits agree (up to a 2^-64
/// accident). It detects corruption and mismatched files; it is no
/// cryptographic hash.
///
/// `complete` is false from the moment a Dumper opens the directory until
/// finish() succeeds: a run that fails part-way leaves a manifest listing what
/// it wrote, marked incomplete, and both loaders (load_manifest() and
/// notebooks/atp_dump.py) refuse it. Version 1 had no such flag, so version 1
/// dumps are refused too (rerun the program). The readers trust nothing
/// else either: every field is checked for type and range, a name may appear
/// once, `file` must be `name + ".npy"`, float32 shapes have 2 dimensions
/// and int64 shapes 1, the JSON may nest at most 64 levels and be at most
/// 64 MiB (json_read.hpp).
///
/// Files are written with write_file_replacing() (file_write.hpp): a symbolic
/// link at `DIR/x.npy` or `DIR/manifest.json` is refused, never followed.
///
/// Output is deterministic: no timestamps, host names or paths, and the JSON
/// is printed with fixed indentation, so two runs of the same program give
/// byte-identical directories.
///
/// Leaves out: other dtypes (see npy.hpp), nested directories, compression,
/// appending to an existing dump, and removing stale `.npy` files a previous
/// run left in the same directory (only the manifest says what belongs).
#pragma once

#include "atp/tensor.hpp"

#include <nlohmann/json.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace atp::sim {

/// 64-bit FNV-1a of `bytes` (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
std::uint64_t fnv1a64(std::span<const std::byte> bytes);

/// `h` as 16 lowercase hex digits, zero-padded: the manifest's "fnv1a64" text.
std::string fnv1a64_hex(std::uint64_t h);

/// One tensor of a dump, as listed in `manifest.json`.
struct TensorEntry {
  std::string name;                 ///< Unique name; letters, digits, '_', '-', '.'.
  std::string file;                 ///< File name inside the dump directory: name + ".npy".
  std::string role;                 ///< "input", "weight", "weight_shard", "intermediate", "output", ...
  int rank = -1;                    ///< -1 for a global tensor, else the rank that holds it.
  std::vector<std::int64_t> shape;  ///< [rows, cols] (float32) or [n] (int64).
  std::string dtype;                ///< "float32" or "int64".
  std::string fnv1a64;              ///< fnv1a64_hex() of the data bytes.
};

/// A dump's `manifest.json`, as read back by load_manifest().
struct Manifest {
  int version = 2;                   ///< Format version (2; version 1 is refused).
  nlohmann::json config;             ///< The configuration the Dumper was given.
  std::vector<TensorEntry> tensors;  ///< Entries in the order they were added.

  /// The entry called `name`; throws std::invalid_argument listing the names if absent.
  const TensorEntry& find(const std::string& name) const;
};

/// Writes a dump directory: the constructor writes an incomplete
/// `manifest.json`, each add() writes one `.npy` at once, finish() writes the
/// complete manifest.
///
/// Usage:
///
///     atp::sim::Dumper d("out/ch02", {{"chapter", 2}, {"p", 4}, {"seed", 7}});
///     d.add("x", x, "input");                  // x.npy, rank -1
///     d.add_per_rank("W", shards, "weight_shard"); // W.rank0.npy ... W.rank3.npy
///     d.finish();                              // manifest.json
class Dumper {
 public:
  /// Opens (creating if missing, with parents) the directory `dir` and writes
  /// a manifest marked incomplete, replacing any earlier one. Throws
  /// std::invalid_argument if `dir` exists and is not a directory or its
  /// manifest.json is a symbolic link, std::runtime_error if it cannot be created.
  Dumper(std::filesystem::path dir, nlohmann::json config);

  /// If finish() was not called (an exception unwound the run), rewrites the
  /// manifest listing what was written, still marked incomplete; never throws
  /// (a failure is reported on stderr, because a destructor has no one to throw to).
  ~Dumper();

  Dumper(const Dumper&) = delete;             ///< One writer per directory.
  Dumper& operator=(const Dumper&) = delete;  ///< One writer per directory.

  /// Writes `m` (R, C) to `<name>.npy` and records it. `rank` is -1 for a
  /// global tensor or the holding rank (>= 0). Throws std::invalid_argument
  /// for a bad or duplicate name, a bad role or rank, or after finish().
  void add(const std::string& name, const Matrix& m, const std::string& role, int rank = -1);

  /// Writes an int64 vector (N), e.g. token ids, to `<name>.npy`; checks as add().
  void add_i64(const std::string& name, const std::vector<std::int64_t>& v, const std::string& role,
               int rank = -1);

  /// Writes one tensor per rank: `parts[r]` as `<name>.rank<r>.npy`, entry
  /// name `<name>.rank<r>`, rank r. Works with std::vector<Matrix> and any
  /// type with size() and operator[](int) yielding a Matrix (e.g. PerRank).
  template <class Parts>
    requires requires(const Parts& p, int r) {
      { p.size() } -> std::convertible_to<std::size_t>;
      { p[r] } -> std::convertible_to<const Matrix&>;
    }
  void add_per_rank(const std::string& name, const Parts& parts, const std::string& role) {
    const auto n = static_cast<int>(parts.size());
    for (int r = 0; r < n; ++r) add(rank_name(name, r), parts[r], role, r);
  }

  /// The entry name add_per_rank() uses for rank `r`: "<name>.rank<r>".
  static std::string rank_name(const std::string& name, int r);

  /// Writes `manifest.json` marked complete. Throws std::invalid_argument if
  /// called twice, std::runtime_error if the file cannot be written.
  void finish();

  /// True once finish() has written the manifest.
  bool finished() const { return finished_; }

  /// The dump directory.
  const std::filesystem::path& dir() const { return dir_; }

  /// The entries recorded so far, in insertion order.
  const std::vector<TensorEntry>& entries() const { return entries_; }

 private:
  void check_new_entry(const std::string& name, const std::string& role, int rank) const;
  void write_manifest(bool complete) const;

  std::filesystem::path dir_;
  nlohmann::json config_;
  std::vector<TensorEntry> entries_;
  bool finished_ = false;
};

/// Reads and checks `dir/manifest.json`. Throws std::runtime_error if it
/// cannot be read, std::invalid_argument if it is not a complete atp-dump
/// version 2 with well-formed, uniquely named entries (see the file comment).
Manifest load_manifest(const std::filesystem::path& dir);

/// load_manifest() of manifest text held in memory; `where` names it in
/// messages. (load_manifest() reads the file and calls this; so do the fuzzers.)
Manifest parse_manifest(std::string_view text, const std::string& where);

/// Reads the float32 tensor `name` of the dump in `dir`, checking its file's
/// shape (exactly, rank included) and the fnv1a64 of the bytes read against
/// the manifest (std::invalid_argument on any mismatch).
Matrix load_tensor(const std::filesystem::path& dir, const std::string& name);

/// Reads the int64 vector `name` of the dump in `dir`, checked as load_tensor().
std::vector<std::int64_t> load_tensor_i64(const std::filesystem::path& dir, const std::string& name);

}  // namespace atp::sim
