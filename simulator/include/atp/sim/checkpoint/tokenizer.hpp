/// \file tokenizer.hpp
/// \brief Token ids to text and back: the byte-level tokens of the book's
///        checkpoint, and llama2.c's tokenizer.bin for other llama2.c models (chapter 7).
///
/// Byte level (the default, and what data/fortune-llama.bin was trained
/// with): token id = byte value, id 1 is BOS (a byte the corpus never
/// contains) and prints as "<s>". A prompt encodes as BOS followed by its bytes.
///
/// llama2.c's tokenizer.bin: int32 max_token_length, then for each of the
/// model's V tokens a float score, an int32 length and that many bytes.
/// Decoding follows llama2.c's run.c: a piece after BOS loses its leading
/// space, and pieces of the form "<0xHH>" are the raw byte HH. Every field
/// is checked against the file's size, and the file must hold exactly V
/// entries. Leaves out: encoding text with tokenizer.bin (BPE merges by
/// score); give such models their prompt as ids (--prompt-ids).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace atp::sim {

/// The id of BOS in llama2.c's models and in the book's byte-level checkpoint.
inline constexpr std::int64_t kBosId = 1;

/// Text of token ids: byte-level, or a llama2.c vocabulary.
class Tokenizer {
 public:
  /// Byte-level tokens for a vocabulary of `vocab` ids (ids 0..255 are bytes).
  /// \throws std::invalid_argument unless 2 <= vocab.
  static Tokenizer bytes(std::int64_t vocab);
  /// Reads llama2.c's tokenizer.bin for a model of `vocab` tokens.
  /// \throws std::runtime_error if the file cannot be read; std::invalid_argument as parse_llama2c.
  static Tokenizer open_llama2c(const std::filesystem::path& path, std::int64_t vocab);
  /// Parses a tokenizer.bin held in memory; `origin` names it in messages.
  /// \throws std::invalid_argument naming the entry and the byte offset of the first problem.
  static Tokenizer parse_llama2c(std::span<const std::byte> bytes, std::int64_t vocab, const std::string& origin);

  /// True for the byte-level tokenizer.
  bool byte_level() const { return pieces_.empty(); }
  /// Number of ids.
  std::int64_t vocab() const { return vocab_; }
  /// "byte-level" or "llama2.c tokenizer <origin>".
  const std::string& description() const { return description_; }

  /// BOS then the bytes of `text` (byte level only).
  /// \throws std::invalid_argument for a llama2.c vocabulary (say --prompt-ids)
  ///         or a byte that is not below vocab().
  std::vector<std::int64_t> encode(const std::string& text) const;

  /// The text of `token` printed after `prev` (as llama2.c's decode).
  /// \throws std::invalid_argument unless 0 <= token < vocab().
  std::string decode(std::int64_t prev, std::int64_t token) const;
  /// The text of `tokens`, the first printed after `prev`.
  std::string decode(const std::vector<std::int64_t>& tokens, std::int64_t prev) const;

 private:
  Tokenizer(std::int64_t vocab, std::vector<std::string> pieces, std::string description)
      : vocab_(vocab), pieces_(std::move(pieces)), description_(std::move(description)) {}
  std::int64_t vocab_;
  std::vector<std::string> pieces_;
  std::string description_;
};

/// `text` with every byte outside printable ASCII written as a backslash, x and two hex digits, except
/// newlines (kept when keep_newlines, else \n) and tabs: safe for a terminal.
std::string printable_text(const std::string& text, bool keep_newlines);

}  // namespace atp::sim
