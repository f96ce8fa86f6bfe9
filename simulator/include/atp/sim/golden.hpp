/// \file golden.hpp
/// \brief Golden digests: what a real GPU run produced, stored as per-tensor
///        fnv1a64 digests under tests/golden/, so that the CPU test suite can
///        check the simulator against real GPUs on machines without one
///        (NUMERICS.md section 6).
///
/// One JSON file per chapter, `tests/golden/chNN.json` (golden_path()):
///
///     {"format": "atp-golden", "version": 1,
///      "written_by": {"gpu": "NVIDIA H100 80GB HBM3", "cuda": "13.0",
///                     "driver": "13.0", "nccl": "2.28.9"},
///      "configs": [
///        {"config": {"chapter": 1, "p": 4, "rows": 2, "cols": 8, "seed": 2026},
///         "tensors": {"x.rank0": {"shape": [2, 8], "fnv1a64": "0123456789abcdef"},
///                     ...}},
///        ...]}
///
/// A configuration is identified by chapter, p, seed and the chapter's own
/// options as chapter_registry.hpp lists them (golden_config()). Other text
/// in a dump's config (a description of the strategy) is no part of the identity. The digests are
/// those of dump.hpp: FNV-1a over the tensor's raw little-endian bytes.
///
/// Who writes: only a GPU run (`atp-compare --write-golden` or
/// scripts/gpu-verify.sh), never a person and never the CPU suite. The CPU
/// suite (tests/test_golden.cpp) recomputes every configuration with the
/// chapter binaries and checks their digests with check_against_golden(); it
/// also requires an entry for every canonical configuration
/// (canonical_configs()) of a chapter once that chapter has a golden file.
///
/// Left out: tolerances (a golden digest is bitwise or nothing), per-GPU
/// golden sets (one file per chapter; a GPU that disagrees is a bug to
/// explain, not a second truth), history of older runs.
#pragma once

#include "atp/tensor.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace atp::sim {

/// The digest of one tensor: its shape and the fnv1a64 of its bytes.
struct TensorDigest {
  std::vector<std::int64_t> shape;  ///< [rows, cols] for float32, [n] for int64.
  std::string fnv1a64;              ///< 16 lowercase hex digits (fnv1a64_hex()).

  /// Same shape and same digest.
  bool operator==(const TensorDigest&) const = default;
};

/// Digests by tensor name (sorted, so files and reports are deterministic).
using DigestSet = std::map<std::string, TensorDigest>;

/// One configuration's golden digests.
struct GoldenEntry {
  nlohmann::json config;  ///< golden_config() of the run: numeric keys only.
  DigestSet tensors;      ///< every tensor the GPU run compared.
};

/// The contents of one golden file (one chapter).
struct GoldenFile {
  int version = 1;                   ///< Format version (only 1 exists).
  nlohmann::json written_by;         ///< {"gpu", "cuda", "driver", "nccl"} of the GPU run.
  std::vector<GoldenEntry> entries;  ///< One per configuration, no two with the same config.

  /// The entry whose config equals golden_config(config), or nullptr.
  const GoldenEntry* find(const nlohmann::json& config) const;

  /// Adds `entry`, replacing an entry with the same config if there is one.
  void upsert(GoldenEntry entry);
};

/// The identity of a run: chapter, p, seed and the chapter's registered
/// options from a dump's config, e.g. {"chapter": 1, "p": 4, "rows": 2, "cols": 8, "seed": 2026}.
/// Every value is checked, never converted: chapter an integer in [0, 99]
/// with a GPU half, p an integer in [1, 4096], seed an integer in
/// [0, 2^64 - 1], each option of the type of its canonical value (a
/// non-negative integer or a string).
/// \throws std::invalid_argument naming the key and the bad value.
nlohmann::json golden_config(const nlohmann::json& config);

/// "chapter=1 p=4 rows=2 cols=8 seed=2026": a config for messages.
std::string describe_config(const nlohmann::json& config);

/// The digest of `m`: shape (R, C) and fnv1a64 of its row-major floats.
TensorDigest digest_matrix(const Matrix& m);

/// digest_matrix() of every named matrix.
DigestSet digest_matrices(const std::map<std::string, Matrix>& tensors);

/// The digests of every tensor in the dump directory `dir`, each computed
/// from the bytes read back (which load_tensor() also holds against the
/// manifest), never copied from the manifest.
/// \throws as load_manifest() / load_tensor() (an incomplete dump or a
/// manifest naming a tensor twice is refused).
DigestSet digest_dump(const std::filesystem::path& dir);

/// `golden_dir/chNN.json` for chapter `chapter` (two digits).
/// \throws std::invalid_argument if chapter is outside [0, 99].
std::filesystem::path golden_path(const std::filesystem::path& golden_dir, int chapter);

/// Reads and checks a golden file.
/// \throws std::runtime_error if it cannot be read;
///         std::invalid_argument if it is not valid JSON (parse_golden()) or
///         not an atp-golden version 1 file (bad format, version, a config
///         golden_config() refuses, a malformed digest, two entries with one
///         config, a file over 64 MiB); the message names the file.
GoldenFile read_golden(const std::filesystem::path& path);

/// read_golden() of golden-file text held in memory; `where` names it in messages.
/// The JSON is read strictly (json_read.hpp): no key twice, at most 64 levels deep.
/// \throws std::invalid_argument as read_golden().
GoldenFile parse_golden(std::string_view text, const std::string& where);

/// Writes `golden` to `path` (parents created), entries sorted by config so
/// that a rerun changes only what changed. Only GPU runs call this. Written
/// with write_file_replacing(): every write and the close are checked and a
/// failure leaves the old file as it was.
/// \throws std::runtime_error if the file cannot be written (disk full,
///         no permission); std::invalid_argument if `path` is a symbolic link.
void write_golden(const std::filesystem::path& path, const GoldenFile& golden);

/// Outcome of check_against_golden().
struct GoldenCheck {
  std::size_t checked = 0;            ///< golden tensors compared
  std::vector<std::string> problems;  ///< one readable line per mismatching or missing tensor

  /// True when every golden tensor was present with the same shape and digest.
  bool ok() const { return problems.empty(); }

  /// A multi-line report: a header with the config, then every problem.
  std::string report(const nlohmann::json& config) const;
};

/// Checks `got` (the simulator's tensors) against the golden `expected`:
/// every tensor in `expected` must be in `got` with the same shape and
/// digest. Tensors only in `got` are fine: the simulator dumps more than the
/// GPU side computes. Each problem names the tensor, the expected (GPU)
/// digest and the one got (simulator).
GoldenCheck check_against_golden(const GoldenEntry& expected, const DigestSet& got);

/// The canonical configurations of `chapter` (golden_config() form): the ones
/// a GPU run must record and the CPU suite must find: seed 2026, each p of the
/// chapter's ChapterSpec::canonical_p, and its options' canonical values
/// (chapter_registry.hpp). Throws for a chapter without a GPU half.
std::vector<nlohmann::json> canonical_configs(int chapter);

/// The command-line arguments that make a chapter binary (CPU or GPU) run
/// `config`, e.g. {"--cols", "8", "--tp", "4", "--rows", "2", "--seed", "2026"}:
/// p becomes --tp, every other key k of golden_config() becomes --k ('_' as '-').
std::vector<std::string> chapter_args(const nlohmann::json& config);

/// The canonical configurations of `chapter` that `golden` has no entry for.
std::vector<nlohmann::json> missing_canonical_configs(const GoldenFile& golden, int chapter);

}  // namespace atp::sim
