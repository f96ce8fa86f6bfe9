/// \file synthetic_decoder.hpp
/// \brief A decoder checkpoint of random weights, built in memory: the GPT-
///        style decoder (no trained GPT ships with the book), small test
///        models of any shape, and the benchmark's hidden-1024 blocks (chapter 7).
///
/// Every tensor of decoder_tensor_layout(config) comes from the counter-based
/// generator (atp/rng.hpp) under `seed`, stream = its index in the layout, so
/// the same (config, seed) gives the same bytes on any machine. Scales keep a
/// forward well-conditioned: a weight (out, in) is uniform on +-1/sqrt(in),
/// norm weights are 1 + u/8, biases u/8, embeddings u. The tensors are
/// written as a safetensors file in memory (safetensors.hpp) and parsed
/// back, so a synthetic model goes through the same reader as a real one.
/// Leaves out: trained weights (data/fortune-llama.bin is the real one).
#pragma once

#include "atp/sim/checkpoint/checkpoint.hpp"
#include "atp/sim/models/decoder_config.hpp"

#include <cstdint>

namespace atp::sim {

/// A Checkpoint ("synthetic <arch> seed S") holding random weights for `config`.
/// \throws std::invalid_argument if the config is invalid (DecoderConfig::validate).
Checkpoint synthetic_decoder_checkpoint(const DecoderConfig& config, std::uint64_t seed);

/// A small config for tests: H 64, I 76 (padded at p = 8, as fortune-llama's 172),
/// nH 8, nKV 2 (d 8), V 96 (padded to 128), S 64, `layers` blocks, of either
/// arch (GPT: nKV = nH, untied LM head). Valid tp: 1, 2, 4, 8.
DecoderConfig small_decoder_config(DecoderArch arch, int layers);

}  // namespace atp::sim
