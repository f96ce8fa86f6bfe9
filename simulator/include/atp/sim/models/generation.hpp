/// \file generation.hpp
/// \brief Greedy generation on a ParallelDecoder: one prefill, then one token
///        per step, every step's collectives counted from the trace (chapter 7).
///
/// Step 0 runs the prompt (T tokens at positions 0..T-1) and picks the
/// first new token from the logits of its last row; step k >= 1 feeds token
/// k-1 at position T + k - 1 and picks token k. Greedy means the lowest id
/// among the largest logits (dense_argmax), computed by every rank from the
/// gathered logits (all-gather), or by rank 0 (gather) which then
/// broadcasts the id, as vLLM's driver does. The whole sequence, prompt and
/// generated tokens, must fit max_seq_len.
///
/// Leaves out: sampling with temperature, top-k/p, stop tokens, batches.
#pragma once

#include "atp/sim/models/parallel_decoder.hpp"
#include "atp/sim/world.hpp"

#include <cstdint>
#include <functional>
#include <vector>

namespace atp::sim {

/// What one step did.
struct GenerationStep {
  int step = 0;                      ///< 0 = prefill
  std::int64_t position = 0;         ///< position of the step's first input token
  std::int64_t tokens_in = 0;        ///< tokens fed (the prompt length at step 0, then 1)
  std::int64_t token = 0;            ///< the id picked
  Matrix logits;                     ///< (1, V): the logits the id was picked from (rank 0's)
  std::int64_t all_reduces = 0;      ///< all-reduce calls during the step (rank order and ring)
  std::int64_t logits_collectives = 0;  ///< all-gather or gather calls of the LM head
  std::int64_t broadcasts = 0;       ///< broadcasts of the picked id (gather only)
  std::int64_t trace_begin = 0;      ///< index of the step's first trace event
  std::int64_t trace_end = 0;        ///< one past its last
};

/// The result of greedy_generate().
struct GenerationResult {
  std::vector<std::int64_t> prompt;     ///< the ids fed at step 0
  std::vector<std::int64_t> generated;  ///< one id per step
  std::vector<GenerationStep> steps;    ///< per step
};

/// The KV positions a generation of `steps` tokens after a prompt of
/// `prompt_tokens` needs: every token but the last generated one is fed.
std::int64_t generation_positions(std::int64_t prompt_tokens, int steps);

/// Generates `steps` tokens greedily after `prompt` into `state` (empty, with
/// capacity >= generation_positions()); calls on_step after each step (if given).
/// On return the state's caches hold every fed position.
/// \throws std::invalid_argument for an empty prompt, steps < 1, a sequence
///         longer than max_seq_len (names both and the largest valid steps),
///         a state that is not empty or too small, or a bad id.
GenerationResult greedy_generate(World& world, const ParallelDecoder& decoder, DecoderState& state,
                                 const std::vector<std::int64_t>& prompt, int steps,
                                 const std::function<void(const GenerationStep&)>& on_step = {});

/// The number of calls of each op among trace events [begin, end) of `world`.
std::int64_t count_calls(const World& world, const std::string& op, std::int64_t begin, std::int64_t end);

}  // namespace atp::sim
