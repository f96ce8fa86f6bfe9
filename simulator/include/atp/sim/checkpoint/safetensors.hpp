/// \file safetensors.hpp
/// \brief The safetensors format: a strict reader (F32 and BF16 read as fp32)
///        and a writer (F32), plus the metadata that carries a DecoderConfig (chapter 7).
///
/// Layout (Hugging Face's format, see its docs "safetensors"):
///
///     u64 N                          little-endian header length
///     N bytes of JSON                {"__metadata__": {"k": "v", ...},
///                                     "name": {"dtype": "F32", "shape": [r, c],
///                                              "data_offsets": [begin, end]}, ...}
///     the data buffer                tensors' bytes, row-major, offsets relative to its start
///
/// The reader refuses, with a message naming the tensor and the numbers: a
/// file shorter than 8 bytes, N above 100,000,000 (the limit of the
/// safetensors library) or past the end of the file, a header that is not a
/// JSON object, metadata that is not string to string, an unknown dtype or
/// one it does not read (F16, I64, ...), a shape that is not a list of
/// non-negative integers, offsets out of the buffer or out of order, a byte
/// count that does not match shape x dtype, overlapping tensors, and gaps
/// (the format requires the buffer to be covered exactly).
///
/// The writer sorts nothing: tensors keep the order given, each F32, the
/// header padded with spaces to a multiple of 8 bytes (allowed by the format)
/// so that the data is aligned. Its JSON keys come out sorted (nlohmann), so
/// the same tensors always give the same bytes.
///
/// A decoder's config travels in __metadata__ under "atp.*" keys
/// (config_metadata()). Leaves out: F16/F64/integer dtypes, writing BF16,
/// sharded multi-file checkpoints with an index.json.
#pragma once

#include "atp/sim/checkpoint/checkpoint.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace atp::sim {

/// The largest header the reader accepts, in bytes (the safetensors library's limit).
inline constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

/// A parsed safetensors file without decoder semantics: its metadata and tensors.
struct SafetensorsFile {
  std::map<std::string, std::string> metadata;  ///< __metadata__
  std::vector<TensorInfo> tensors;              ///< offsets counted from the start of the file
};

/// True when `bytes` start with an 8-byte length N, 8 + N <= size, and '{'.
bool looks_like_safetensors(std::span<const std::byte> bytes);

/// Parses and checks the header of a safetensors file held in memory (no copy).
/// \throws std::invalid_argument naming `origin` and the problem (see the file comment).
SafetensorsFile parse_safetensors_file(std::span<const std::byte> bytes, const std::string& origin);

/// parse_safetensors_file, then the DecoderConfig from the metadata and the
/// decoder's tensor set (check_decoder_tensors()).
CheckpointContents parse_safetensors(std::span<const std::byte> bytes, const std::string& origin);

/// One tensor to write: its name, shape ([n] or [rows, cols]) and values.
struct NamedTensor {
  std::string name;                 ///< key in the header
  std::vector<std::int64_t> shape;  ///< element count must equal values.size()
  Matrix values;                    ///< row-major values (a 1-D tensor as (1, n))
};

/// The bytes of a safetensors file holding `tensors` (F32) and `metadata`.
/// \throws std::invalid_argument for a duplicate or empty name, the reserved
///         name "__metadata__", or a shape that does not match the values.
std::vector<std::byte> write_safetensors(const std::vector<NamedTensor>& tensors,
                                         const std::map<std::string, std::string>& metadata);

/// The "atp.*" metadata that records `config` (every field, floats with 9 significant digits).
std::map<std::string, std::string> config_metadata(const DecoderConfig& config);

/// The config recorded by config_metadata(), validated.
/// \throws std::invalid_argument naming `origin` and a missing or malformed key.
DecoderConfig config_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& origin);

/// The bytes of a safetensors file holding every tensor of `source` as F32
/// and its config as metadata (the converter's llama2.c -> safetensors direction).
std::vector<std::byte> write_decoder_safetensors(const Checkpoint& source);

}  // namespace atp::sim
