/// \file tokenizer.cpp
/// \brief Byte-level tokens and llama2.c's tokenizer.bin, with checked reads.
#include "atp/sim/checkpoint/tokenizer.hpp"

#include "atp/sim/checkpoint/mapped_file.hpp"

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace atp::sim {
namespace {

std::string str(long long v) { return std::to_string(v); }

/// The raw byte of a "<0xHH>" piece, or -1.
int raw_byte(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = piece[static_cast<std::size_t>(i)];
    const int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                     : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

}  // namespace

Tokenizer Tokenizer::bytes(std::int64_t vocab) {
  if (vocab < 2) throw std::invalid_argument("byte-level tokenizer: vocabulary " + str(vocab) + " must be >= 2");
  return Tokenizer(vocab, {}, "byte-level (id = byte, BOS = 1)");
}

Tokenizer Tokenizer::open_llama2c(const std::filesystem::path& path, std::int64_t vocab) {
  const MappedFile file(path);
  return parse_llama2c(file.bytes(), vocab, path.string());
}

Tokenizer Tokenizer::parse_llama2c(std::span<const std::byte> bytes, std::int64_t vocab, const std::string& origin) {
  const std::string who = origin + " (llama2.c tokenizer)";
  if (vocab < 2) throw std::invalid_argument(who + ": vocabulary " + str(vocab) + " must be >= 2");
  std::size_t at = 0;
  // Checks that n more bytes exist; called before anything of that size is allocated, so a
  // length field of 2^31 costs a message, not 2 GB (the fuzzer found the allocation first).
  auto need = [&](std::size_t n, const std::string& what) {
    if (bytes.size() - at < n)
      throw std::invalid_argument(who + ": the file ends at byte " + str(static_cast<long long>(bytes.size())) +
                                  " inside " + what + " (needs " + str(static_cast<long long>(n)) +
                                  " bytes at offset " + str(static_cast<long long>(at)) + ")");
  };
  auto take = [&](void* dst, std::size_t n, const std::string& what) {
    need(n, what);
    std::memcpy(dst, bytes.data() + at, n);
    at += n;
  };
  std::int32_t max_len = 0;
  take(&max_len, 4, "the header (int32 max_token_length)");
  if (max_len < 1)
    throw std::invalid_argument(who + ": max_token_length " + str(max_len) + " must be >= 1");
  std::vector<std::string> pieces;
  pieces.reserve(static_cast<std::size_t>(vocab));
  for (std::int64_t i = 0; i < vocab; ++i) {
    float score = 0.0f;
    std::int32_t len = 0;
    take(&score, 4, "the score of token " + str(i));
    take(&len, 4, "the length of token " + str(i));
    if (len < 0 || len > max_len)
      throw std::invalid_argument(who + ": token " + str(i) + " has length " + str(len) +
                                  ", outside [0, max_token_length " + str(max_len) + "]");
    need(static_cast<std::size_t>(len), "the bytes of token " + str(i));
    std::string piece(static_cast<std::size_t>(len), '\0');
    take(piece.data(), piece.size(), "the bytes of token " + str(i));
    pieces.push_back(std::move(piece));
  }
  if (at != bytes.size())
    throw std::invalid_argument(who + ": " + str(static_cast<long long>(bytes.size() - at)) +
                                " bytes follow the " + str(vocab) +
                                " entries the model's vocabulary needs (a tokenizer for a larger vocabulary?)");
  return Tokenizer(vocab, std::move(pieces), "llama2.c tokenizer " + origin);
}

std::vector<std::int64_t> Tokenizer::encode(const std::string& text) const {
  if (!byte_level())
    throw std::invalid_argument("encoding text needs the byte-level tokenizer; with a llama2.c tokenizer give the "
                                "prompt as ids (--prompt-ids 1,...)");
  std::vector<std::int64_t> ids{kBosId};
  for (unsigned char c : text) {
    if (static_cast<std::int64_t>(c) >= vocab_)
      throw std::invalid_argument("prompt byte " + str(c) + " is not below the vocabulary " + str(vocab_));
    ids.push_back(c);
  }
  return ids;
}

std::string Tokenizer::decode(std::int64_t prev, std::int64_t token) const {
  if (token < 0 || token >= vocab_)
    throw std::invalid_argument("token id " + str(token) + " is outside the vocabulary [0, " + str(vocab_) + ")");
  if (byte_level()) return token == kBosId ? std::string("<s>") : std::string(1, static_cast<char>(token));
  std::string piece = pieces_[static_cast<std::size_t>(token)];
  if (prev == kBosId && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
  const int b = raw_byte(piece);
  return b >= 0 ? std::string(1, static_cast<char>(b)) : piece;
}

std::string Tokenizer::decode(const std::vector<std::int64_t>& tokens, std::int64_t prev) const {
  std::string out;
  for (std::int64_t t : tokens) {
    out += decode(prev, t);
    prev = t;
  }
  return out;
}

std::string printable_text(const std::string& text, bool keep_newlines) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '\n') {
      out += keep_newlines ? "\n" : "\\n";
    } else if (c == '\t' || (c >= 0x20 && c < 0x7f)) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace atp::sim
