/// \file test_checkpoint.cpp
/// \brief The checkpoint readers and writers (llama2.c, safetensors), the
///        tokenizers, and every refusal of a bad file with its message (chapter 7).
#include "test_util.hpp"

#include "atp/sim/checkpoint/checkpoint.hpp"
#include "atp/sim/checkpoint/llama2c.hpp"
#include "atp/sim/checkpoint/mapped_file.hpp"
#include "atp/sim/checkpoint/safetensors.hpp"
#include "atp/sim/checkpoint/tokenizer.hpp"
#include "atp/sim/models/synthetic_decoder.hpp"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
namespace sim = atp::sim;
using atp::Matrix;
using atp::test::contains;
using atp::test::require_bitwise;

namespace {

const char* kFortune = ATP_SOURCE_DIR "/data/fortune-llama.bin";

std::vector<std::byte> file_bytes(const fs::path& p) {
  const sim::MappedFile f(p);
  return {f.bytes().begin(), f.bytes().end()};
}

/// The message of the exception (any std::exception) that f throws, or "".
template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

/// A safetensors file from a header text and a data buffer of `data` bytes.
std::vector<std::byte> safetensors_bytes(const std::string& header, std::size_t data) {
  std::vector<std::byte> out(8 + header.size() + data, std::byte{0});
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

std::string parse_error(const std::vector<std::byte>& bytes) {
  return message_of([&] { sim::parse_safetensors_file(bytes, "t.safetensors"); });
}

}  // namespace

TEST_CASE("llama2.c: the shipped checkpoint's header, size and tensor layout") {
  const sim::Checkpoint c = sim::Checkpoint::open(kFortune);
  CHECK(c.format() == "llama2c");
  CHECK(c.size_bytes() == 982812);
  const sim::DecoderConfig& cfg = c.config();
  CHECK(cfg.hidden == 64);
  CHECK(cfg.intermediate == 172);
  CHECK(cfg.layers == 5);
  CHECK(cfg.heads == 8);
  CHECK(cfg.kv_heads == 4);
  CHECK(cfg.vocab == 256);
  CHECK(cfg.max_seq_len == 256);
  CHECK(cfg.tied_embeddings);
  CHECK(c.tensors().size() == 2 + 9 * 5);
  // The embedding starts right after the 28-byte header; the final norm ends where the skipped RoPE tables begin.
  CHECK(c.tensor("model.embed_tokens.weight").offset == 28);
  const auto& norm = c.tensor("model.norm.weight");
  CHECK(norm.offset + norm.bytes == 982812 - 2 * 256 * 4 * 4);
  CHECK(c.tensor("model.layers.4.mlp.down_proj.weight").shape == std::vector<std::int64_t>{64, 172});
  // w1 is gate, w3 is up: the gate of layer 0 is stored before down (w2), up after it.
  CHECK(c.tensor("model.layers.0.mlp.gate_proj.weight").offset < c.tensor("model.layers.0.mlp.down_proj.weight").offset);
  CHECK(c.tensor("model.layers.0.mlp.down_proj.weight").offset < c.tensor("model.layers.0.mlp.up_proj.weight").offset);
}

TEST_CASE("llama2.c -> safetensors -> llama2.c keeps every tensor's bits") {
  const sim::Checkpoint a = sim::Checkpoint::open(kFortune);
  const sim::Checkpoint b = sim::Checkpoint::from_bytes(sim::write_decoder_safetensors(a), "converted");
  CHECK(b.format() == "safetensors");
  CHECK(b.config() == a.config());
  const std::vector<std::byte> back = sim::write_llama2c(b);
  const std::vector<std::byte> original = file_bytes(kFortune);
  REQUIRE(back.size() == original.size());
  // Byte-identical up to the legacy RoPE tables, which the writer recomputes (readers skip them).
  const auto& norm = a.tensor("model.norm.weight");
  CHECK(std::memcmp(back.data(), original.data(), static_cast<std::size_t>(norm.offset + norm.bytes)) == 0);
  for (const auto& t : a.tensors()) require_bitwise(b.read(t.name), a.read(t.name), t.name);
}

TEST_CASE("safetensors: a GPT with an untied head round-trips; BF16 tensors read as exact fp32") {
  const sim::DecoderConfig cfg = sim::small_decoder_config(sim::DecoderArch::GPT, 2);
  const sim::Checkpoint c = sim::synthetic_decoder_checkpoint(cfg, 11);
  CHECK(c.config() == cfg);
  CHECK(c.has("lm_head.weight"));
  CHECK(c.has("model.embed_positions.weight"));
  CHECK(sim::Checkpoint::from_bytes(sim::write_decoder_safetensors(c), "again").config() == cfg);
  CHECK(contains(message_of([&] { sim::write_llama2c(c); }), "llama2.c stores Llama decoders only"));

  // The same tensors as BF16: each value cut to its top 16 bits, which fp32 then holds exactly.
  nlohmann::json header = {{"__metadata__", sim::config_metadata(cfg)}};
  std::vector<std::uint16_t> data;
  std::vector<Matrix> want;
  for (const auto& e : sim::decoder_tensor_layout(cfg)) {
    Matrix m = c.read(e.name);
    const std::size_t begin = data.size() * 2;
    for (Eigen::Index i = 0; i < m.size(); ++i) {
      const std::uint32_t b = std::bit_cast<std::uint32_t>(m.data()[i]);
      data.push_back(static_cast<std::uint16_t>(b >> 16));
      m.data()[i] = std::bit_cast<float>(b & 0xffff0000u);
    }
    header[e.name] = {{"dtype", "BF16"}, {"shape", e.shape}, {"data_offsets", {begin, data.size() * 2}}};
    want.push_back(std::move(m));
  }
  std::vector<std::byte> bytes = safetensors_bytes(header.dump(), data.size() * 2);
  std::memcpy(bytes.data() + bytes.size() - data.size() * 2, data.data(), data.size() * 2);
  const sim::Checkpoint bf = sim::Checkpoint::from_bytes(bytes, "bf16");
  std::size_t i = 0;
  for (const auto& e : sim::decoder_tensor_layout(cfg)) {
    CHECK(bf.tensor(e.name).dtype == sim::DType::BF16);
    sim::ReadCounter counter;
    require_bitwise(bf.read(e.name, &counter), want[i++], e.name);
    CHECK(counter.bytes == bf.tensor(e.name).bytes);  // 2 bytes per element read
  }
}

TEST_CASE("read_block touches and counts only the block; out-of-range blocks are refused") {
  const sim::Checkpoint c = sim::Checkpoint::open(kFortune);
  const Matrix whole = c.read("model.layers.2.self_attn.o_proj.weight");
  sim::ReadCounter counter;
  const Matrix block = c.read_block("model.layers.2.self_attn.o_proj.weight", 3, 5, 16, 8, &counter);
  require_bitwise(block, Matrix(whole.block(3, 16, 5, 8)), "block");
  CHECK(counter.bytes == 5 * 8 * 4);
  CHECK(counter.blocks == 1);
  CHECK(contains(message_of([&] { c.read_block("model.layers.2.self_attn.o_proj.weight", 60, 8, 0, 1); }),
                 "rows [60, 68) x cols [0, 1) does not fit tensor 'model.layers.2.self_attn.o_proj.weight' of shape "
                 "[64, 64]"));
  CHECK(contains(message_of([&] { c.tensor("model.layers.9.mlp.up_proj.weight"); }),
                 "no tensor named 'model.layers.9.mlp.up_proj.weight'"));
}

TEST_CASE("llama2.c: a bad file is refused with both sizes or the bad field named") {
  std::vector<std::byte> bytes = file_bytes(kFortune);
  auto parse = [](const std::vector<std::byte>& b) { return message_of([&] { sim::parse_checkpoint(b, "f.bin"); }); };
  CHECK(contains(parse(std::vector<std::byte>(bytes.begin(), bytes.begin() + 20)),
                 "20 bytes is shorter than the 28-byte llama2.c header"));
  CHECK(contains(parse(std::vector<std::byte>(bytes.begin(), bytes.end() - 4)),
                 "the file is 982808 bytes but its llama2.c header (dim=64 hidden_dim=172 n_layers=5 n_heads=8 "
                 "n_kv_heads=4 vocab_size=256 seq_len=256) describes 982812 bytes"));
  std::vector<std::byte> flipped = bytes;
  const std::int32_t negative = -256;
  std::memcpy(flipped.data() + 20, &negative, 4);  // says: a classifier follows, but none does
  CHECK(contains(parse(flipped), "describes 1048348 bytes"));
  std::vector<std::byte> heads = bytes;
  const std::int32_t three = 3;
  std::memcpy(heads.data() + 12, &three, 4);  // n_heads 3 does not divide dim 64
  CHECK(contains(parse(heads), "hidden 64 is not divisible by heads 3"));
  std::vector<std::byte> zero = bytes;
  const std::int32_t none = 0;
  std::memcpy(zero.data() + 8, &none, 4);
  CHECK(contains(parse(zero), "layers = 0 must be >= 1"));
}

TEST_CASE("safetensors: every malformed header is refused, naming the tensor and the numbers") {
  CHECK(contains(parse_error(std::vector<std::byte>(5)), "5 bytes is too short"));
  std::vector<std::byte> huge(16, std::byte{0});
  const std::uint64_t big = 100'000'001;
  std::memcpy(huge.data(), &big, 8);
  CHECK(contains(parse_error(huge), "header too large: 100000001 bytes (the limit is 100000000"));
  std::vector<std::byte> past(16, std::byte{0});
  const std::uint64_t n = 9;
  std::memcpy(past.data(), &n, 8);
  CHECK(contains(parse_error(past), "the header length 9 runs past the end of the file (16 bytes"));
  CHECK(contains(parse_error(safetensors_bytes("{\"a\": ", 0)), "the header is not valid JSON"));
  CHECK(contains(parse_error(safetensors_bytes("[1, 2]", 0)), "must be a JSON object, got array"));
  CHECK(contains(parse_error(safetensors_bytes(R"({"__metadata__": {"k": 1}})", 0)),
                 "__metadata__ value of 'k' must be a string"));
  const auto one = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return R"({"w": {"dtype": ")" + dtype + R"(", "shape": )" + shape + R"(, "data_offsets": )" + offsets + "}}";
  };
  CHECK(contains(parse_error(safetensors_bytes(one("Q4", "[2]", "[0, 8]"), 8)), "unknown dtype 'Q4'"));
  CHECK(contains(parse_error(safetensors_bytes(one("F16", "[2]", "[0, 4]"), 4)),
                 "tensor 'w' has dtype F16, which this reader does not read"));
  CHECK(contains(parse_error(safetensors_bytes(one("F32", "[2.5]", "[0, 8]"), 8)),
                 "every shape entry must be a non-negative integer, got 2.5"));
  CHECK(contains(parse_error(safetensors_bytes(one("F32", "[3]", "[0, 8]"), 8)),
                 "shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8"));
  CHECK(contains(parse_error(safetensors_bytes(one("F32", "[2]", "[0, 8]"), 4)),
                 "data_offsets [0, 8] are out of range: the data buffer after the header holds 4 bytes"));
  CHECK(contains(parse_error(safetensors_bytes(one("F32", "[0]", "[8, 4]"), 8)), "begin must not exceed end"));
  CHECK(contains(parse_error(safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                                               12)),
                 "tensors 'a' [0, 8) and 'b' [4, 12) overlap"));
  CHECK(contains(parse_error(safetensors_bytes(one("F32", "[1]", "[4, 8]"), 8)),
                 "4 bytes before tensor 'w' (at 4) belong to no tensor"));
  CHECK(contains(parse_error(safetensors_bytes(one("F32", "[1]", "[0, 4]"), 8)),
                 "the 4 bytes at the end belong to no tensor"));
  // A well-formed file whose tensors are not a decoder's.
  const auto fine = safetensors_bytes(one("F32", "[1]", "[0, 4]"), 4);
  CHECK(parse_error(fine).empty());
  CHECK(contains(message_of([&] { sim::parse_checkpoint(fine, "t.safetensors"); }),
                 "key 'atp.arch' is missing"));
}

TEST_CASE("safetensors: a decoder file with a missing, extra or misshapen tensor is refused") {
  const sim::DecoderConfig cfg = sim::small_decoder_config(sim::DecoderArch::Llama, 1);
  const sim::Checkpoint c = sim::synthetic_decoder_checkpoint(cfg, 3);
  std::vector<sim::NamedTensor> tensors;
  for (const auto& e : sim::decoder_tensor_layout(cfg)) tensors.push_back({e.name, e.shape, c.read(e.name)});
  auto refused = [&](std::vector<sim::NamedTensor> t) {
    return message_of([&] { sim::parse_checkpoint(sim::write_safetensors(t, sim::config_metadata(cfg)), "m"); });
  };
  auto missing = tensors;
  missing.erase(missing.begin() + 3);
  CHECK(contains(refused(missing), "tensor 'model.layers.0.self_attn.k_proj.weight' is missing"));
  auto extra = tensors;
  extra.push_back({"model.layers.0.mlp.up_proj.bias", {76}, Matrix::Zero(1, 76)});
  CHECK(contains(refused(extra), "tensor 'model.layers.0.mlp.up_proj.bias' is not part of a llama decoder"));
  auto wrong = tensors;
  wrong[1] = {wrong[1].name, {32}, Matrix::Zero(1, 32)};
  CHECK(contains(refused(wrong), "has shape [32] but the config"));
  auto meta = sim::config_metadata(cfg);
  meta["atp.heads"] = "eight";
  CHECK(contains(message_of([&] { sim::parse_checkpoint(sim::write_safetensors(tensors, meta), "m"); }),
                 "atp.heads = 'eight' is not a 32-bit integer"));
  CHECK(contains(message_of([&] { sim::write_safetensors({{"x", {3}, Matrix::Zero(1, 2)}}, {}); }),
                 "tensor 'x' has 2 values but its shape describes 3"));
}

TEST_CASE("files that cannot be mapped are refused with the path and the reason") {
  CHECK(contains(message_of([] { sim::Checkpoint::open("/nonexistent/model.bin"); }),
                 "cannot open '/nonexistent/model.bin'"));
  CHECK(contains(message_of([] { sim::Checkpoint::open(ATP_SOURCE_DIR "/data"); }), "is not a regular file"));
  const fs::path empty = fs::temp_directory_path() / ("atp-empty-" + std::to_string(::getpid()) + ".bin");
  std::ofstream(empty).close();
  CHECK(contains(message_of([&] { sim::Checkpoint::open(empty); }), "is empty (0 bytes)"));
  fs::remove(empty);
}

TEST_CASE("tokenizers: byte level, and llama2.c's tokenizer.bin with its decoding rules and checks") {
  const sim::Tokenizer bytes = sim::Tokenizer::bytes(256);
  CHECK(bytes.encode("The ") == std::vector<std::int64_t>{1, 84, 104, 101, 32});
  CHECK(bytes.decode({84, 104, 101}, 1) == "The");
  CHECK(bytes.decode(1, 1) == "<s>");
  CHECK(contains(message_of([&] { bytes.decode(1, 256); }), "token id 256 is outside the vocabulary [0, 256)"));
  CHECK(contains(message_of([] { sim::Tokenizer::bytes(100).encode("\xff"); }), "prompt byte 255"));
  CHECK(sim::printable_text("a\x01\n", false) == "a\\x01\\n");

  // A four-token tokenizer.bin: <unk>, <s>, " hi", <0x0A>.
  std::vector<std::byte> file;
  auto put = [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    file.insert(file.end(), b, b + n);
  };
  const std::int32_t max_len = 6;
  put(&max_len, 4);
  for (const std::string piece : {"<unk>", "<s>", " hi", "<0x0A>"}) {
    const float score = 0.5f;
    const auto len = static_cast<std::int32_t>(piece.size());
    put(&score, 4);
    put(&len, 4);
    put(piece.data(), piece.size());
  }
  const sim::Tokenizer tok = sim::Tokenizer::parse_llama2c(file, 4, "tok.bin");
  CHECK(tok.decode(1, 2) == "hi");   // after BOS the leading space goes
  CHECK(tok.decode(2, 2) == " hi");
  CHECK(tok.decode(2, 3) == "\n");  // a raw-byte piece
  CHECK(contains(message_of([&] { tok.encode("hi"); }), "give the prompt as ids (--prompt-ids"));
  CHECK(contains(message_of([&] { sim::Tokenizer::parse_llama2c(file, 5, "tok.bin"); }),
                 "the file ends at byte 53 inside the score of token 4"));
  CHECK(contains(message_of([&] { sim::Tokenizer::parse_llama2c(file, 3, "tok.bin"); }),
                 "14 bytes follow the 3 entries"));
  std::vector<std::byte> bad = file;
  const std::int32_t long_len = 99;
  std::memcpy(bad.data() + 4 + 4, &long_len, 4);
  CHECK(contains(message_of([&] { sim::Tokenizer::parse_llama2c(bad, 4, "tok.bin"); }),
                 "token 0 has length 99, outside [0, max_token_length 6]"));
}
