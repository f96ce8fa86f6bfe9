/// \file checkpoint.hpp
/// \brief Checkpoint: a decoder's weights in a file (llama2.c or safetensors)
///        or in memory, read block by block so that each rank copies out
///        only its own shard (chapter 7).
///
/// A Checkpoint is a list of named tensors, each a (dtype, shape, byte range)
/// inside one buffer, plus the DecoderConfig they belong to. Opened from a
/// file, the buffer is a memory map (mapped_file.hpp): nothing is read until
/// read_block() copies a block out, and the ReadCounter passed to it records
/// how many bytes that reader (that rank) took. Both formats are translated
/// to one set of names (decoder_tensor_layout()):
///
///     model.embed_tokens.weight                       (V, H)
///     model.embed_positions.weight                    (S, H)       GPT only
///     model.layers.{l}.input_layernorm.weight         [H]          (+ .bias, GPT)
///     model.layers.{l}.self_attn.{q,k,v}_proj.weight  (nH d | nKV d, H)  (+ .bias, GPT)
///     model.layers.{l}.self_attn.o_proj.weight        (H, nH d)    (+ .bias, GPT)
///     model.layers.{l}.post_attention_layernorm.weight [H]         (+ .bias, GPT)
///     model.layers.{l}.mlp.gate_proj.weight           (I, H)       Llama only
///     model.layers.{l}.mlp.up_proj.weight             (I, H)       (+ .bias, GPT)
///     model.layers.{l}.mlp.down_proj.weight           (H, I)       (+ .bias, GPT)
///     model.norm.weight                               [H]          (+ .bias, GPT)
///     lm_head.weight                                  (V, H)       only when not tied
///
/// (Hugging Face's Llama names; llama2.c's w1, w3, w2 are gate, up, down.)
/// Weights are stored (out, in) as nn.Linear, y = x W^T + b. Every parser
/// works on an in-memory buffer too (parse_checkpoint()), so a fuzz target
/// is one call. Leaves out: dtypes other than F32 and BF16, quantised
/// weights, sharded multi-file checkpoints, big-endian machines.
#pragma once

#include "atp/sim/models/decoder_config.hpp"
#include "atp/tensor.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace atp::sim {

/// Element types a checkpoint tensor may have (both are read as fp32).
enum class DType : int {
  F32,  ///< IEEE binary32, little-endian
  BF16  ///< bfloat16: the top 16 bits of a binary32 (widening to fp32 is exact)
};

/// "F32" or "BF16", the safetensors spelling.
const char* dtype_name(DType dtype);
/// 4 or 2.
std::int64_t dtype_size(DType dtype);

/// Where one tensor's bytes are.
struct TensorInfo {
  std::string name;                 ///< canonical name (see the file comment)
  DType dtype = DType::F32;         ///< element type
  std::vector<std::int64_t> shape;  ///< 1-D [n] or 2-D [rows, cols]
  std::int64_t offset = 0;          ///< first byte, counted from the start of the buffer
  std::int64_t bytes = 0;           ///< element count times dtype_size

  /// rows of the matrix view: 1 for a 1-D tensor.
  std::int64_t rows() const { return shape.size() == 2 ? shape[0] : 1; }
  /// cols of the matrix view: n for a 1-D tensor.
  std::int64_t cols() const { return shape.empty() ? 0 : shape.back(); }
  /// "[64]" or "[256, 64]".
  std::string shape_text() const;
};

/// How many bytes one reader (one rank) copied out of a checkpoint.
struct ReadCounter {
  std::int64_t bytes = 0;   ///< element bytes copied, as stored (2 per BF16 element)
  std::int64_t blocks = 0;  ///< read_block calls
};

/// One tensor a decoder with a given config needs: its name and shape.
struct ExpectedTensor {
  std::string name;                 ///< canonical name
  std::vector<std::int64_t> shape;  ///< [n] or [rows, cols]
};

/// The tensors of a decoder with this config, in the order the writers store them.
std::vector<ExpectedTensor> decoder_tensor_layout(const DecoderConfig& config);

/// What a parser produces before it is wrapped in a Checkpoint.
struct CheckpointContents {
  std::string format;                           ///< "llama2c" or "safetensors"
  DecoderConfig config;                         ///< the model the tensors belong to
  std::map<std::string, std::string> metadata;  ///< safetensors' __metadata__ (empty for llama2.c)
  std::vector<TensorInfo> tensors;              ///< offsets into the parsed buffer
};

/// A decoder's weights in one buffer: a memory-mapped file or owned bytes.
class Checkpoint {
 public:
  /// Maps `path` and parses it (format detected from the bytes, see parse_checkpoint()).
  /// \throws std::runtime_error if the file cannot be mapped; std::invalid_argument
  ///         naming the file and the problem if its contents are not a valid checkpoint.
  static Checkpoint open(const std::filesystem::path& path);
  /// Parses owned bytes (a checkpoint built in memory); `origin` names it in messages.
  static Checkpoint from_bytes(std::vector<std::byte> bytes, const std::string& origin);

  /// "llama2c" or "safetensors".
  const std::string& format() const { return contents_.format; }
  /// The path it was opened from, or the origin given to from_bytes.
  const std::string& origin() const { return origin_; }
  /// The model.
  const DecoderConfig& config() const { return contents_.config; }
  /// safetensors' __metadata__.
  const std::map<std::string, std::string>& metadata() const { return contents_.metadata; }
  /// Every tensor, in storage order.
  const std::vector<TensorInfo>& tensors() const { return contents_.tensors; }
  /// Size of the whole buffer (the file) in bytes.
  std::int64_t size_bytes() const { return static_cast<std::int64_t>(bytes_.size()); }
  /// True if a tensor of this name exists.
  bool has(const std::string& name) const;
  /// The tensor called `name`. \throws std::invalid_argument naming it and the checkpoint.
  const TensorInfo& tensor(const std::string& name) const;

  /// Rows [row0, row0 + nrows) and cols [col0, col0 + ncols) of tensor `name`
  /// (its matrix view), as fp32; only those elements' bytes are touched and
  /// counted in `counter` (if given). \throws std::invalid_argument naming the
  /// tensor, its shape and the block if the block does not fit.
  Matrix read_block(const std::string& name, std::int64_t row0, std::int64_t nrows, std::int64_t col0,
                    std::int64_t ncols, ReadCounter* counter = nullptr) const;
  /// The whole tensor: (rows, cols), a 1-D tensor as (1, n).
  Matrix read(const std::string& name, ReadCounter* counter = nullptr) const;

 private:
  Checkpoint(std::shared_ptr<const void> owner, std::span<const std::byte> bytes, CheckpointContents contents,
             std::string origin);
  std::shared_ptr<const void> owner_;
  std::span<const std::byte> bytes_;
  CheckpointContents contents_;
  std::string origin_;
};

/// Parses a checkpoint held in memory without copying it: safetensors when
/// the bytes start with a plausible 8-byte header length and '{', otherwise
/// llama2.c. The tensor set is checked against decoder_tensor_layout().
/// \throws std::invalid_argument with a message naming `origin` and the problem.
CheckpointContents parse_checkpoint(std::span<const std::byte> bytes, const std::string& origin);

/// Checks that `tensors` are exactly the decoder's (decoder_tensor_layout()):
/// none missing, none extra, every shape right.
/// \throws std::invalid_argument naming the first offending tensor and what was expected.
void check_decoder_tensors(const DecoderConfig& config, const std::vector<TensorInfo>& tensors,
                           const std::string& origin);

}  // namespace atp::sim
