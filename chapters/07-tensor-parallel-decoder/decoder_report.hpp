/// \file decoder_report.hpp
/// \brief The tables chapter 7's binary prints: what each rank read and
///        holds, the collective timeline of a step, KV cache and memory per
///        rank against p, the tp sweep, and the RoPE accuracy table.
///
/// Every number the chapter README quotes is printed by one of these (run
/// by atp-ch07-tensor-parallel-decoder). Leaves out: the generation itself
/// (tensor_parallel_decoder.cpp) and the dump.
#pragma once

#include "atp/sim/checkpoint/checkpoint.hpp"
#include "atp/sim/models/generation.hpp"
#include "atp/sim/models/parallel_decoder.hpp"
#include "atp/sim/world.hpp"

#include <cstdint>
#include <vector>

namespace atp::ch07 {

/// Section 1: the file, and per rank the bytes it read and the weight bytes its ledger holds.
void print_shard_reads(const atp::sim::Checkpoint& checkpoint, const atp::sim::World& world,
                       const atp::sim::PerRank<atp::sim::ReadCounter>& read);

/// Section 2: per rank its query and KV heads, FFN columns and vocabulary rows.
void print_ownership(const atp::sim::ParallelDecoder& decoder);

/// Section 4: per step the collective counts, and whether every step had 1 + 2L all-reduces
/// and one logits collective; then the timeline of `detail_step` from the trace.
void print_trace(const atp::sim::World& world, const atp::sim::ParallelDecoder& decoder,
                 const atp::sim::GenerationResult& result, int detail_step);

/// Section 5: KV-cache bytes per rank for every valid p, for `positions` cached and for max_seq_len.
void print_kv_cache_table(const atp::sim::DecoderConfig& config, std::int64_t positions);

/// Section 6: weights, KV cache and activations per rank against p for the
/// shipped config (and a check against the run's ledger at `p`) and for Llama-2-7B.
/// tree_segments > 0: the FFN padding of the tree order (--invariant).
void print_memory_tables(const atp::sim::DecoderConfig& config, std::int64_t positions,
                         std::int64_t prompt_tokens, const atp::sim::World& world, int tree_segments = 0);

/// The float64 reference decoder's greedy run on the same prompt: its ids and every step's logits.
struct ReferenceRun {
  std::vector<std::int64_t> generated;  ///< one id per step
  std::vector<atp::MatrixD> logits;     ///< (1, V) per step
};

/// Runs atp::greedy_generate_reference on the checkpoint's weights.
ReferenceRun run_reference(const atp::sim::Checkpoint& checkpoint, const std::vector<std::int64_t>& prompt, int steps);

/// Section 7: this run against the float64 reference: ids equal, the largest
/// logit error, and every step whose top-two gap (float64) is not more than
/// twice that step's error (where a different id could be rounding, not a bug).
/// Returns false if the ids differ.
bool print_reference_check(const atp::sim::GenerationResult& result, const ReferenceRun& reference, int p);

/// --all-tp (section 8): generates at every p in {1, 2, 4, 8} the model admits
/// and holds each against the reference as section 7 does. Returns false if any ids differ.
bool run_tp_sweep(const atp::sim::Checkpoint& checkpoint, const std::vector<std::int64_t>& prompt, int steps,
                  atp::sim::DecoderOptions options, const ReferenceRun& reference);

/// --rope-accuracy: the table of atp/rotary_accuracy.hpp.
void print_rope_accuracy();


}  // namespace atp::ch07
