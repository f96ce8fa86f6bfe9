/// \file test_llama2c_reader_reference.cpp
/// \brief The reference decoder's llama2.c reader: every tensor taken from the
///        offset data/README.md's order gives it, the classifier shared or
///        separate by the sign of vocab_size, and clear errors for bad files.
///
/// The files are built in memory (parse_llama2c_reference), so nothing is
/// written to disk; the shipped checkpoint itself is read in
/// test_dense_decoder_reference.cpp.
#include "atp/dense_decoder_reference.hpp"

#include "test_util.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

using atp::DecoderWeightsRef;
using atp::test::contains;
using atp::test::error_of;

namespace {

// A llama2.c file whose every float is its own index in the float stream, so each
// tensor's first element tells where the reader took it from.
std::vector<char> numbered_checkpoint(std::int32_t vocab_field, std::int64_t floats) {
  const std::int32_t header[7] = {4, 6, 2, 2, 1, vocab_field, 3};  // dim, hidden, L, nH, nKV, vocab, seq
  std::vector<char> bytes(sizeof header + static_cast<std::size_t>(floats) * 4);
  std::memcpy(bytes.data(), header, sizeof header);
  for (std::int64_t i = 0; i < floats; ++i) {
    const auto f = static_cast<float>(i);
    std::memcpy(bytes.data() + sizeof header + i * 4, &f, 4);
  }
  return bytes;
}

}  // namespace

TEST_CASE("llama2.c reader: tensor order, shared and separate classifier, bad files") {
  // D 4, F 6, L 2, nH 2 (d 2), nKV 1, V 5, seq 3. Float offsets, from data/README.md's order:
  // emb 0 (20); attn norm 20 (2x4); wq 28 (2x4x4); wk 60 (2x2x4); wv 76; wo 92 (2x4x4); ffn norm 124;
  // w1 132 (2x6x4); w2 180 (2x4x6); w3 228 (2x6x4); final norm 276 (4); RoPE tables 280 (2x3x1);
  // classifier 286 (5x4) when vocab_size < 0.
  const DecoderWeightsRef s = atp::parse_llama2c_reference(numbered_checkpoint(5, 286), "shared.bin");
  CHECK(s.tok_embedding(1, 2) == 6);
  CHECK(s.layers[1].attn_norm_w(0, 0) == 24);
  CHECK(s.layers[1].wq(0, 0) == 44);
  CHECK(s.layers[0].wk(1, 3) == 67);
  CHECK(s.layers[1].wv(0, 0) == 84);
  CHECK(s.layers[0].wo(3, 3) == 107);
  CHECK(s.layers[0].ffn_norm_w(0, 0) == 124);
  CHECK(s.layers[1].w_gate(0, 0) == 156);
  CHECK(s.layers[1].w_down(0, 0) == 204);
  CHECK(s.layers[0].w_up(5, 3) == 251);
  CHECK(s.final_norm_w(0, 3) == 279);
  CHECK(s.lm_head.size() == 0);
  CHECK(s.shape.vocab_size == 5);
  const DecoderWeightsRef sep = atp::parse_llama2c_reference(numbered_checkpoint(-5, 306), "separate.bin");
  CHECK(sep.shape.vocab_size == 5);
  CHECK(sep.lm_head(0, 0) == 286);
  CHECK(sep.lm_head(4, 3) == 305);

  const auto err = [](const std::vector<char>& b) {
    return error_of([&] { atp::parse_llama2c_reference(b, "m.bin"); });
  };
  CHECK(contains(err(numbered_checkpoint(5, 285)), "m.bin: truncated: 1168 bytes"));
  CHECK(contains(err(numbered_checkpoint(5, 287)), "trailing bytes"));
  CHECK(contains(err(numbered_checkpoint(-5, 286)), "separate classifier) needs 1252"));
  CHECK(contains(err(std::vector<char>(10)), "shorter than the 28-byte header"));
  std::vector<char> bad_heads = numbered_checkpoint(5, 286);
  const std::int32_t three = 3;
  std::memcpy(bad_heads.data() + 16, &three, 4);  // n_kv_heads = 3 does not divide n_heads = 2
  CHECK(contains(err(bad_heads), "n_kv_heads 3 must divide n_heads 2"));
  std::memcpy(bad_heads.data(), &three, 4);  // dim 3
  CHECK(contains(err(bad_heads), "dim 3 must be n_heads 2 times an even head size"));
  std::vector<char> zero_layers = numbered_checkpoint(5, 286);
  std::memset(zero_layers.data() + 8, 0, 4);
  CHECK(contains(err(zero_layers), "n_layers = 0"));
  try {
    atp::read_llama2c_reference("/nonexistent/model.bin");
    FAIL("no exception");
  } catch (const std::runtime_error& e) {
    CHECK(contains(e.what(), "/nonexistent/model.bin: cannot open"));
  }
}
