/// \file synthetic_decoder.cpp
/// \brief Random decoder weights through the safetensors writer and reader.
#include "atp/sim/models/synthetic_decoder.hpp"

#include "atp/rng.hpp"
#include "atp/sim/checkpoint/safetensors.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace atp::sim {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

Checkpoint synthetic_decoder_checkpoint(const DecoderConfig& config, std::uint64_t seed) {
  config.validate();
  std::vector<NamedTensor> tensors;
  std::uint64_t stream = 0;
  for (const ExpectedTensor& e : decoder_tensor_layout(config)) {
    const std::int64_t rows = e.shape.size() == 2 ? e.shape[0] : 1, cols = e.shape.back();
    Matrix m = random_matrix(rows, cols, seed, stream++);
    if (ends_with(e.name, "layernorm.weight") || e.name == "model.norm.weight") {
      m = (m * 0.125f).array() + 1.0f;
    } else if (ends_with(e.name, ".bias")) {
      m *= 0.125f;
    } else if (e.name != "model.embed_tokens.weight" && e.name != "model.embed_positions.weight") {
      m *= 1.0f / std::sqrt(static_cast<float>(cols));
    }
    tensors.push_back({e.name, e.shape, std::move(m)});
  }
  return Checkpoint::from_bytes(write_safetensors(tensors, config_metadata(config)),
                                std::string("synthetic ") + decoder_arch_name(config.arch) + " seed " +
                                    std::to_string(seed));
}

DecoderConfig small_decoder_config(DecoderArch arch, int layers) {
  DecoderConfig c;
  c.arch = arch;
  c.hidden = 64;
  c.intermediate = 76;
  c.layers = layers;
  c.heads = 8;
  c.kv_heads = arch == DecoderArch::GPT ? 8 : 2;
  c.vocab = 96;
  c.max_seq_len = 64;
  c.tied_embeddings = arch != DecoderArch::GPT;
  return c;
}

}  // namespace atp::sim
