/// \file tensor_parallel_decoder.cpp
/// \brief Chapter 7: a whole decoder on p simulated ranks, assembled from the
/// chapter layers, generating text from a real trained checkpoint with a
/// per-rank KV cache; every collective counted from the trace.
///
/// Run: `atp-ch07-tensor-parallel-decoder [--checkpoint data/fortune-llama.bin] [--prompt "The " | --prompt-ids 1,84]
///       [--steps 24] [--tp 4] [--reduce-order rank-order|ring|tree | --invariant] [--logits all-gather|gather]
///       [--tokenizer tokenizer.bin] [--narrate] [--dump DIR] [--all-tp] [--rope-accuracy]`
///
/// After generating it runs the float64 reference decoder on the same prompt and
/// compares (section 7): a run whose ids differ from float64 exits with status 1.
///
/// Prints `generated: <id> <id> ...` (the new tokens), then the text, then
/// `logits digest: <fnv1a64>` of every step's logits. --invariant (chapter 11)
/// runs every all-reduce and row-parallel sum in the blocked tree order, so
/// that digest is the same at tp 1, 2, 4, 8; with --all-tp, section 9 prints
/// it per tp (ordinary TP: with ulp histograms and the tightest argmax), and
/// an --invariant run whose digests differ exits with status 1. A --tp
/// the model cannot split (3 for 8 heads) exits with status 77 and a message
/// naming the valid tp, which scripts/tour.sh reports as a skip.
///
/// Dumped tensors (--dump): prompt, generated (int64); logits.step<k> (1, V)
/// for each step k (step 0 = the prefill); kv_cache.k.block<l>.rank<r> and
/// kv_cache.v.block<l>.rank<r> (positions, nKV_r d): every rank's cache after
/// the last step. The config records the run and, under "timeline", every
/// step's collectives as the trace holds them. Leaves out: the GPU half
/// (tensor_parallel_decoder_gpu.cpp runs the same decoder on NCCL ranks).
#include "decoder_cli.hpp"
#include "decoder_report.hpp"
#include "tp_bits_report.hpp"

#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/models/generation.hpp"
#include "atp/sim/models/parallel_decoder.hpp"
#include "atp/sim/narrate.hpp"


#include <cstdio>
#include <iostream>
#include <string>

namespace sim = atp::sim;
namespace ch07 = atp::ch07;
using atp::Matrix;

namespace {

/// Every collective of every step, as the figure script reads it from the dump's config.
nlohmann::json timeline(const sim::World& world, const sim::GenerationResult& result) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : result.steps) {
    nlohmann::json ops = nlohmann::json::array();
    for (std::int64_t i = s.trace_begin; i < s.trace_end; ++i) {
      const auto& e = world.trace().events()[static_cast<std::size_t>(i)];
      if (e.rank == 0 && e.op != sim::kMatmulOp)
        ops.push_back({{"op", e.op}, {"label", e.label}, {"bytes_sent", e.bytes_sent}, {"elements",
                       e.shape_in[0] * e.shape_in[1]}});
    }
    steps.push_back({{"step", s.step}, {"tokens_in", s.tokens_in}, {"collectives", ops}});
  }
  return steps;
}

/// The prompt as text: after BOS when it starts with one (llama2.c's decode strips a leading space there).
std::string prompt_text(const sim::Tokenizer& tokenizer, const std::vector<std::int64_t>& prompt, bool newlines) {
  const bool bos = prompt.front() == sim::kBosId;
  const std::vector<std::int64_t> rest(prompt.begin() + (bos ? 1 : 0), prompt.end());
  return sim::printable_text(tokenizer.decode(rest, bos ? sim::kBosId : -1), newlines);
}

void write_dump(const ch07::RunOptions& o, const sim::ParallelDecoder& decoder, const sim::DecoderState& state,
                const sim::GenerationResult& result, const sim::World& world) {
  const sim::DecoderConfig& c = decoder.config();
  sim::Dumper dump(o.dump, {{"chapter", 7},
                            {"p", decoder.p()},
                            {"seed", o.seed},
                            {"steps", o.steps},
                            {"prompt_ids", ch07::id_list_text(result.prompt)},
                            {"checkpoint", o.checkpoint},
                            {"model", c.describe()},
                            {"arch", sim::decoder_arch_name(c.arch)},
                            {"layers", c.layers},
                            {"reduce_order", o.reduce_order},
                            {"logits", o.logits},
                            {"padded_intermediate", decoder.padded_intermediate()},
                            {"timeline", timeline(world, result)}});
  dump.add_i64("prompt", result.prompt, "input");
  dump.add_i64("generated", result.generated, "output");
  for (const auto& s : result.steps) dump.add("logits.step" + std::to_string(s.step), s.logits, "output");
  for (int l = 0; l < c.layers; ++l)
    for (int r = 0; r < decoder.p(); ++r) {
      const std::string block = ".block" + std::to_string(l);
      dump.add(sim::Dumper::rank_name("kv_cache.k" + block, r), state.cache(l).keys(r), "intermediate", r);
      dump.add(sim::Dumper::rank_name("kv_cache.v" + block, r), state.cache(l).values(r), "intermediate", r);
    }
  dump.finish();
  std::printf("Wrote the dump to %s\n", o.dump.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 7: a tensor-parallel decoder generating from a real checkpoint, on p simulated ranks."};
  ch07::RunOptions o;
  bool narrate = false, all_tp = false, rope = false;
  ch07::add_run_options(app, o);
  sim::cli::add_narrate(app, narrate, "narrate the prefill: what every rank holds in block 0, the LM head");
  sim::cli::add_flag(app, "--all-tp", all_tp, "also generate at every tp in {1, 2, 4, 8} the model admits and compare");
  sim::cli::add_flag(app, "--rope-accuracy", rope, "print the accuracy of the rotary sin/cos against float64 and exit");
  if (const auto rc = sim::cli::parse(app, argc, argv)) return *rc;

  try {
    if (rope) {
      ch07::print_rope_accuracy();
      return 0;
    }
    const sim::Checkpoint checkpoint = sim::Checkpoint::open(o.checkpoint);
    const sim::DecoderConfig& c = checkpoint.config();
    try {
      sim::check_decoder_tp(c, o.tp);
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "atp-ch07-tensor-parallel-decoder: %s (%s); skipping this chapter at tp %d\n", e.what(),
                   o.checkpoint.c_str(), o.tp);
      return ch07::kExitTpDoesNotFit;
    }
    const sim::Tokenizer tokenizer = ch07::make_tokenizer(o, c.vocab);
    const std::vector<std::int64_t> prompt = ch07::prompt_ids(o, tokenizer, c);
    sim::DecoderOptions options{sim::parse_reduce_order(o.reduce_order), sim::parse_logits_collective(o.logits)};
    const bool invariant = options.order == sim::ReduceOrder::Tree;
    std::printf("Chapter 7: a tensor-parallel decoder (p=%d, %d steps, %s all-reduce, logits by %s)\n\n", o.tp,
                o.steps, o.reduce_order.c_str(), o.logits.c_str());

    sim::World world(o.tp);
    if (narrate) world.narrate_to(std::cout);
    sim::PerRank<sim::ReadCounter> read;
    const sim::ParallelDecoder decoder = sim::ParallelDecoder::load(checkpoint, o.tp, options, &read);
    const std::int64_t positions = sim::generation_positions(static_cast<std::int64_t>(prompt.size()), o.steps);
    sim::DecoderState state = decoder.new_state(positions);
    decoder.account_memory(world);
    state.account_memory(world);
    ch07::print_shard_reads(checkpoint, world, read);
    ch07::print_ownership(decoder);

    std::printf("3. Greedy generation: a prefill of the %zu prompt tokens, then one token per step\n\n"
                "   prompt ids: %s  (%s)\n\n   %4s  %8s  %9s  %6s  %-6s\n",
                prompt.size(), ch07::id_line(prompt).c_str(), prompt_text(tokenizer, prompt, false).c_str(), "step",
                "position", "tokens in", "token", "text");
    std::int64_t prev = prompt.back();
    const sim::GenerationResult result = sim::greedy_generate(
        world, decoder, state, prompt, o.steps, [&](const sim::GenerationStep& s) {
          if (s.step == 0 && narrate) world.stop_narrating();  // the prefill was narrated; decode steps repeat it
          std::printf("   %4d  %8lld  %9lld  %6lld  '%s'\n", s.step, static_cast<long long>(s.position),
                      static_cast<long long>(s.tokens_in), static_cast<long long>(s.token),
                      sim::printable_text(tokenizer.decode(prev, s.token), false).c_str());
          prev = s.token;
        });
    std::printf("\ngenerated: %s\n", ch07::id_line(result.generated).c_str());
    std::printf("text: %s%s\n", prompt_text(tokenizer, prompt, true).c_str(),
                sim::printable_text(tokenizer.decode(result.generated, prompt.back()), true).c_str());
    std::printf("logits digest: %s  (fnv1a64 of the %zu steps' logits, tp=%d, order: %s)\n\n",
                ch07::logits_digest(result).c_str(), result.steps.size(), o.tp, o.reduce_order.c_str());

    ch07::print_trace(world, decoder, result, o.steps > 1 ? 1 : 0);
    ch07::print_kv_cache_table(c, positions);
    ch07::print_memory_tables(c, positions, static_cast<std::int64_t>(prompt.size()), world,
                              sim::tree_segments_of(options));
    const ch07::ReferenceRun reference = ch07::run_reference(checkpoint, prompt, o.steps);
    const bool same = ch07::print_reference_check(result, reference, o.tp);
    if (all_tp && !ch07::run_tp_sweep(checkpoint, prompt, o.steps, options, reference)) {
      std::fprintf(stderr, "error: the generated ids differ between tensor-parallel sizes (see section 8)\n");
      return 1;
    }
    if (all_tp && !ch07::print_bits_across_tp(checkpoint, prompt, o.steps, options) && invariant) {
      std::fprintf(stderr, "error: --invariant gave different logits bits at different tp (see section 9)\n");
      return 1;
    }
    if (!o.dump.empty()) write_dump(o, decoder, state, result, world);
    if (!same) {
      std::fprintf(stderr, "error: the ids differ from the float64 reference's (see section 7)\n");
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
