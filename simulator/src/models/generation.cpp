/// \file generation.cpp
/// \brief greedy_generate: prefill, decode steps, the argmax and the per-step collective counts.
#include "atp/sim/models/generation.hpp"

#include "atp/sim/collectives.hpp"
#include "atp/sim/narrate.hpp"

#include <set>
#include <stdexcept>

namespace atp::sim {
namespace {

std::string str(long long v) { return std::to_string(v); }

}  // namespace

std::int64_t count_calls(const World& world, const std::string& op, std::int64_t begin, std::int64_t end) {
  const auto& events = world.trace().events();
  std::set<std::int64_t> calls;
  for (std::int64_t i = begin; i < end && i < static_cast<std::int64_t>(events.size()); ++i)
    if (events[static_cast<std::size_t>(i)].op == op) calls.insert(events[static_cast<std::size_t>(i)].call);
  return static_cast<std::int64_t>(calls.size());
}

std::int64_t generation_positions(std::int64_t prompt_tokens, int steps) { return prompt_tokens + steps - 1; }

GenerationResult greedy_generate(World& world, const ParallelDecoder& decoder, DecoderState& state,
                                 const std::vector<std::int64_t>& prompt, int steps,
                                 const std::function<void(const GenerationStep&)>& on_step) {
  const DecoderConfig& c = decoder.config();
  if (prompt.empty()) throw std::invalid_argument("greedy_generate: the prompt is empty; it needs at least BOS");
  if (steps < 1) throw std::invalid_argument("greedy_generate: steps " + str(steps) + " must be >= 1");
  const auto total = static_cast<std::int64_t>(prompt.size()) + steps;
  if (total > c.max_seq_len)
    throw std::invalid_argument("the prompt (" + str(static_cast<long long>(prompt.size())) + " tokens) and " +
                                str(steps) + " steps make " + str(total) + " tokens, more than max_seq_len " +
                                str(c.max_seq_len) + "; use at most " +
                                str(c.max_seq_len - static_cast<std::int64_t>(prompt.size())) + " steps");
  check_token_ids(prompt, c.vocab);
  const std::int64_t need = generation_positions(static_cast<std::int64_t>(prompt.size()), steps);
  if (state.position() != 0 || state.capacity() < need)
    throw std::invalid_argument("greedy_generate: the state holds " + str(state.position()) + " of " +
                                str(state.capacity()) + " positions; it must be empty with room for " + str(need));
  GenerationResult result;
  result.prompt = prompt;
  std::vector<std::int64_t> input = prompt;
  for (int k = 0; k < steps; ++k) {
    GenerationStep s;
    s.step = k;
    s.position = state.position();
    s.tokens_in = static_cast<std::int64_t>(input.size());
    s.trace_begin = static_cast<std::int64_t>(world.trace().events().size());
    const std::string label = k == 0 ? "prefill" : "step" + str(k);
    const PerRank<Matrix> hidden = decoder.forward(world, input, state, label);
    const PerRank<Matrix> logits = decoder.last_logits(world, hidden, label);
    s.logits = logits[0];
    std::int64_t id = dense_argmax(logits[0])[0];
    if (decoder.options().logits == LogitsCollective::Gather) {
      // Only rank 0 holds the logits: it picks, then tells every rank (one float, exact below 2^24).
      PerRank<Matrix> pick(decoder.p(), Matrix::Zero(1, 1));
      pick[0](0, 0) = static_cast<float>(id);
      id = static_cast<std::int64_t>(broadcast(world, pick, 0, label + ".next_token")[decoder.p() - 1](0, 0));
    }
    s.token = id;
    s.trace_end = static_cast<std::int64_t>(world.trace().events().size());
    s.all_reduces = count_calls(world, ops::kAllReduceRankOrder, s.trace_begin, s.trace_end) +
                    count_calls(world, ops::kAllReduceRing, s.trace_begin, s.trace_end);
    s.logits_collectives = count_calls(world, ops::kAllGather, s.trace_begin, s.trace_end) +
                           count_calls(world, ops::kGather, s.trace_begin, s.trace_end);
    s.broadcasts = count_calls(world, ops::kBroadcast, s.trace_begin, s.trace_end);
    result.generated.push_back(id);
    if (on_step) on_step(s);
    result.steps.push_back(std::move(s));
    input = {id};
  }
  return result;
}

}  // namespace atp::sim
