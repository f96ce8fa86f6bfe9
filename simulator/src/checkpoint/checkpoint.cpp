/// \file checkpoint.cpp
/// \brief Checkpoint: format detection, the canonical tensor layout, and block reads out of the buffer.
#include "atp/sim/checkpoint/checkpoint.hpp"

#include "atp/sim/checkpoint/llama2c.hpp"
#include "atp/sim/checkpoint/mapped_file.hpp"
#include "atp/sim/checkpoint/safetensors.hpp"

#include <bit>
#include <cstring>
#include <set>
#include <stdexcept>
#include <utility>

namespace atp::sim {

static_assert(std::endian::native == std::endian::little,
              "checkpoints are little-endian and are read by memcpy: a big-endian host would need byte swaps");

namespace {

std::string str(long long v) { return std::to_string(v); }

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += str(shape[i]);
  }
  return s + "]";
}

/// Widens one stored element to fp32: F32 bits as they are, BF16 as the top half of a binary32 (exact).
float load_element(const std::byte* p, DType dtype) {
  if (dtype == DType::F32) {
    float v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  std::uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

}  // namespace

const char* dtype_name(DType dtype) { return dtype == DType::BF16 ? "BF16" : "F32"; }

std::int64_t dtype_size(DType dtype) { return dtype == DType::BF16 ? 2 : 4; }

std::string TensorInfo::shape_text() const { return atp::sim::shape_text(shape); }

std::vector<ExpectedTensor> decoder_tensor_layout(const DecoderConfig& c) {
  const std::int64_t H = c.hidden, I = c.intermediate, V = c.vocab, d = c.head_dim();
  const std::int64_t q_out = static_cast<std::int64_t>(c.heads) * d, kv_out = static_cast<std::int64_t>(c.kv_heads) * d;
  const bool gpt = c.arch == DecoderArch::GPT;
  std::vector<ExpectedTensor> out;
  auto add = [&](std::string name, std::vector<std::int64_t> shape) { out.push_back({std::move(name), std::move(shape)}); };
  add("model.embed_tokens.weight", {V, H});
  if (gpt) add("model.embed_positions.weight", {c.max_seq_len, H});
  for (int l = 0; l < c.layers; ++l) {
    const std::string p = "model.layers." + str(l) + ".";
    add(p + "input_layernorm.weight", {H});
    if (gpt) add(p + "input_layernorm.bias", {H});
    for (const char* proj : {"q_proj", "k_proj", "v_proj"}) {
      const std::int64_t rows = proj[0] == 'q' ? q_out : kv_out;
      add(p + "self_attn." + proj + ".weight", {rows, H});
      if (gpt) add(p + "self_attn." + proj + ".bias", {rows});
    }
    add(p + "self_attn.o_proj.weight", {H, q_out});
    if (gpt) add(p + "self_attn.o_proj.bias", {H});
    add(p + "post_attention_layernorm.weight", {H});
    if (gpt) add(p + "post_attention_layernorm.bias", {H});
    if (!gpt) add(p + "mlp.gate_proj.weight", {I, H});
    add(p + "mlp.up_proj.weight", {I, H});
    if (gpt) add(p + "mlp.up_proj.bias", {I});
    add(p + "mlp.down_proj.weight", {H, I});
    if (gpt) add(p + "mlp.down_proj.bias", {H});
  }
  add("model.norm.weight", {H});
  if (gpt) add("model.norm.bias", {H});
  if (!c.tied_embeddings) add("lm_head.weight", {V, H});
  return out;
}

void check_decoder_tensors(const DecoderConfig& config, const std::vector<TensorInfo>& tensors,
                           const std::string& origin) {
  const auto layout = decoder_tensor_layout(config);
  std::map<std::string, const TensorInfo*> by_name;
  for (const auto& t : tensors) by_name[t.name] = &t;
  std::set<std::string> expected;
  for (const auto& e : layout) {
    expected.insert(e.name);
    const auto it = by_name.find(e.name);
    if (it == by_name.end())
      throw std::invalid_argument(origin + ": tensor '" + e.name + "' is missing; a " + config.describe() +
                                  " decoder needs it with shape " + shape_text(e.shape));
    if (it->second->shape != e.shape)
      throw std::invalid_argument(origin + ": tensor '" + e.name + "' has shape " + it->second->shape_text() +
                                  " but the config (" + config.describe() + ") needs " + shape_text(e.shape));
  }
  for (const auto& t : tensors)
    if (expected.count(t.name) == 0)
      throw std::invalid_argument(origin + ": tensor '" + t.name + "' is not part of a " +
                                  decoder_arch_name(config.arch) + " decoder with " + str(config.layers) +
                                  " layers" + (config.tied_embeddings ? " and a tied LM head" : "") +
                                  "; expected names like '" + layout.front().name + "' and 'model.layers.0." +
                                  "self_attn.q_proj.weight' (chapter 7's README lists them)");
}

CheckpointContents parse_checkpoint(std::span<const std::byte> bytes, const std::string& origin) {
  return looks_like_safetensors(bytes) ? parse_safetensors(bytes, origin) : parse_llama2c(bytes, origin);
}

Checkpoint::Checkpoint(std::shared_ptr<const void> owner, std::span<const std::byte> bytes,
                       CheckpointContents contents, std::string origin)
    : owner_(std::move(owner)), bytes_(bytes), contents_(std::move(contents)), origin_(std::move(origin)) {}

Checkpoint Checkpoint::open(const std::filesystem::path& path) {
  auto file = std::make_shared<const MappedFile>(path);
  const auto bytes = file->bytes();
  CheckpointContents contents = parse_checkpoint(bytes, path.string());
  return Checkpoint(std::move(file), bytes, std::move(contents), path.string());
}

Checkpoint Checkpoint::from_bytes(std::vector<std::byte> bytes, const std::string& origin) {
  auto owned = std::make_shared<const std::vector<std::byte>>(std::move(bytes));
  const std::span<const std::byte> view(owned->data(), owned->size());
  CheckpointContents contents = parse_checkpoint(view, origin);
  return Checkpoint(std::move(owned), view, std::move(contents), origin);
}

bool Checkpoint::has(const std::string& name) const {
  for (const auto& t : contents_.tensors)
    if (t.name == name) return true;
  return false;
}

const TensorInfo& Checkpoint::tensor(const std::string& name) const {
  for (const auto& t : contents_.tensors)
    if (t.name == name) return t;
  throw std::invalid_argument(origin_ + ": no tensor named '" + name + "' (it has " +
                              str(static_cast<long long>(contents_.tensors.size())) + " tensors, e.g. '" +
                              (contents_.tensors.empty() ? std::string("none") : contents_.tensors.front().name) +
                              "')");
}

Matrix Checkpoint::read_block(const std::string& name, std::int64_t row0, std::int64_t nrows, std::int64_t col0,
                              std::int64_t ncols, ReadCounter* counter) const {
  const TensorInfo& t = tensor(name);
  if (row0 < 0 || nrows < 0 || col0 < 0 || ncols < 0 || row0 + nrows > t.rows() || col0 + ncols > t.cols())
    throw std::invalid_argument(origin_ + ": block rows [" + str(row0) + ", " + str(row0 + nrows) + ") x cols [" +
                                str(col0) + ", " + str(col0 + ncols) + ") does not fit tensor '" + name +
                                "' of shape " + t.shape_text() + " (viewed as " + shape_string(t.rows(), t.cols()) +
                                ")");
  const std::int64_t es = dtype_size(t.dtype);
  Matrix m(nrows, ncols);
  for (std::int64_t i = 0; i < nrows; ++i) {
    const std::byte* row = bytes_.data() + t.offset + ((row0 + i) * t.cols() + col0) * es;
    for (std::int64_t j = 0; j < ncols; ++j) m(i, j) = load_element(row + j * es, t.dtype);
  }
  if (counter != nullptr) {
    counter->bytes += nrows * ncols * es;
    counter->blocks += 1;
  }
  return m;
}

Matrix Checkpoint::read(const std::string& name, ReadCounter* counter) const {
  const TensorInfo& t = tensor(name);
  return read_block(name, 0, t.rows(), 0, t.cols(), counter);
}

}  // namespace atp::sim
