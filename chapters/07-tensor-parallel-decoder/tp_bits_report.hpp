/// \file tp_bits_report.hpp
/// \brief Section 9 of chapter 7's binary (--all-tp): the bits of the logits
///        across tensor-parallel sizes. One digest per tp of every step's
///        logits; under ordinary TP the ulp histogram of each tp against tp 1
///        and the first step whose argmax could flip; under --invariant
///        (chapter 11's blocked tree order) one digest for every tp.
///
/// Leaves out: the generation itself and the float64 comparison (section 8,
/// decoder_report.hpp); the GPU (atp-compare holds the GPU to these bits).
#pragma once

#include "atp/sim/checkpoint/checkpoint.hpp"
#include "atp/sim/models/generation.hpp"
#include "atp/sim/models/parallel_decoder.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp::ch07 {

/// fnv1a64 (hex) of every step's logits stacked into one (steps, V) matrix:
/// the `logits digest` line, equal between two runs iff every logit bit is.
std::string logits_digest(const atp::sim::GenerationResult& result);

/// Section 9: generates at every tp in {1, 2, 4, 8} the model admits with
/// `options`, prints each tp's logits digest and generated ids, and, when
/// they differ, the ulp histogram of each tp's logits against tp 1's and the
/// tightest step (the smallest top-two gap over the largest cross-tp logit
/// difference; a ratio <= 2 means rounding could pick another id there).
/// Returns true when every tp printed the same digest.
bool print_bits_across_tp(const atp::sim::Checkpoint& checkpoint, const std::vector<std::int64_t>& prompt, int steps,
                          atp::sim::DecoderOptions options);

}  // namespace atp::ch07
