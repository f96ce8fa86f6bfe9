/// \file invariant_decoder.hpp
/// \brief Chapter 7's checkpoint in chapter 11's tree order: what the CPU
/// binary and the GPU worker both run when --decoder-steps > 0, so atp-compare
/// holds the GPU's decoder to the simulator's bits.
///
/// Both halves load data/fortune-llama.bin (or --checkpoint) with the decoder
/// options of chapter 7's `--invariant` (every all-reduce and row-parallel sum
/// in the blocked tree order of S segments, the FFN padded to a multiple of
/// S), generate greedily from kDecoderPrompt, and dump
///
///     decoder_generated           (steps) int64         rank 0
///     decoder_logits              (steps, V)            rank 0: every step's logits, stacked
///     decoder_log_probs.rank<r>   (steps, V_pad/p)      rank r: the TP-invariant vocab-parallel
///                                                       log-softmax of its own logits columns
///
/// Leaves out: the decoder itself (atp::sim::ParallelDecoder and
/// atp::cuda::ParallelDecoder, assembled from the chapter layers), the
/// reports of chapter 7's binary.
#pragma once

#include "atp/sim/layers/vocab_parallel_embedding.hpp"
#include "atp/tensor.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef ATP_CH11_CHECKPOINT
#error "ATP_CH11_CHECKPOINT must name the default checkpoint (data/fortune-llama.bin)"
#endif

namespace atp::ch11 {

/// The decoder's default checkpoint: chapter 7's.
inline const char* kDecoderCheckpoint = ATP_CH11_CHECKPOINT;

/// BOS and "The " in fortune-llama's byte-level ids: chapter 7's canonical prompt.
inline const std::vector<std::int64_t> kDecoderPrompt = {1, 84, 104, 101, 32};

/// Rows = steps: every step's (1, V) logits stacked into (steps, V).
/// \throws std::invalid_argument if the rows differ in width.
inline Matrix stack_rows(const std::vector<Matrix>& rows) {
  if (rows.empty()) return Matrix(0, 0);
  Matrix out(static_cast<Eigen::Index>(rows.size()), rows.front().cols());
  for (std::size_t k = 0; k < rows.size(); ++k) {
    if (rows[k].rows() != 1 || rows[k].cols() != out.cols())
      throw std::invalid_argument("stack_rows: row " + std::to_string(k) + " is " + shape_string(rows[k]) +
                                  ", expected (1, " + std::to_string(out.cols()) + ")");
    out.row(static_cast<Eigen::Index>(k)) = rows[k].row(0);
  }
  return out;
}

/// Rank r's local logits (T, V_pad/p) out of the gathered (T, V): its
/// vocabulary columns, +0 in the padding columns (as its zero LM-head rows
/// give them). The all-gather copies, so these are the bits rank r computed.
inline Matrix local_logits_of(const Matrix& logits, int rank, int p) {
  const std::int64_t V = logits.cols(), n = atp::sim::pad_vocab_size(V) / p, first = rank * n;
  Matrix out = Matrix::Zero(logits.rows(), n);
  const std::int64_t real = std::max<std::int64_t>(0, std::min<std::int64_t>(n, V - first));
  if (real > 0) out.leftCols(real) = logits.middleCols(first, real);
  return out;
}

}  // namespace atp::ch11
