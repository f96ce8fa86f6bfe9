/// \file decoder_section.hpp
/// \brief Chapter 11's section on chapter 7's checkpoint (--decoder-steps > 0):
///        the tree-ordered decoder at tp 1, 2, 4, 8, one logits digest, and
///        the tensors the dump records at --tp (invariant_decoder.hpp).
///
/// Leaves out: the GPU (bit_invariant_tp_gpu.cpp runs the same), chapter 7's
/// reports (atp-ch07-tensor-parallel-decoder --invariant --all-tp prints them).
#pragma once

#include "atp/sim/dump.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp::ch11 {

/// What the decoder produced at one tp.
struct DecoderRun {
  std::vector<std::int64_t> generated;  ///< one id per step
  Matrix logits;                        ///< (steps, V)
  std::vector<Matrix> log_probs;        ///< per rank (steps, V_pad/p): the vocab-parallel log-softmax, tree order
};

/// Loads `checkpoint` at tp p in the tree order of `segments`, generates
/// `steps` tokens from kDecoderPrompt, and computes every rank's log-probs.
/// \throws std::invalid_argument if p does not fit the model or does not divide segments.
DecoderRun run_invariant_decoder(const std::string& checkpoint, int p, int steps, int segments);

/// Section 7: the digests at every tp in {1, 2, 4, 8} the model and S admit.
/// Returns false if any two differ.
bool print_decoder_invariance(const std::string& checkpoint, int steps, int segments);

/// Adds decoder_generated, decoder_logits and decoder_log_probs.rank<r> to `dump`.
void dump_decoder_run(atp::sim::Dumper& dump, const DecoderRun& run);

}  // namespace atp::ch11
