/// \file decoder_section.cpp
/// \brief Chapter 7's checkpoint in the tree order on p simulated ranks (see decoder_section.hpp).
#include "decoder_section.hpp"

#include "invariant_decoder.hpp"

#include "atp/sim/golden.hpp"
#include "atp/sim/layers/vocab_parallel_log_softmax.hpp"
#include "atp/sim/models/generation.hpp"
#include "atp/sim/models/parallel_decoder.hpp"
#include "atp/sim/sharding.hpp"

#include <cstdio>

namespace atp::ch11 {
namespace sim = atp::sim;

DecoderRun run_invariant_decoder(const std::string& checkpoint_path, int p, int steps, int segments) {
  const sim::Checkpoint checkpoint = sim::Checkpoint::open(checkpoint_path);
  sim::DecoderOptions options;  // chapter 7's --invariant, with this chapter's S
  options.order = sim::ReduceOrder::Tree;
  options.tree_segments = segments;
  sim::World world(p);
  const auto decoder = sim::ParallelDecoder::load(checkpoint, p, options);
  sim::DecoderState state =
      decoder.new_state(sim::generation_positions(static_cast<std::int64_t>(kDecoderPrompt.size()), steps));
  const sim::GenerationResult result = sim::greedy_generate(world, decoder, state, kDecoderPrompt, steps);
  DecoderRun run;
  run.generated = result.generated;
  std::vector<Matrix> rows;
  for (const auto& s : result.steps) rows.push_back(s.logits);
  run.logits = stack_rows(rows);
  const auto local = sim::make_per_rank(p, [&](int r) -> Matrix { return local_logits_of(run.logits, r, p); });
  const auto lp = sim::vocab_parallel_log_softmax(world, local, checkpoint.config().vocab,
                                                  {sim::ReduceOrder::Tree, segments}, "decoder.log_softmax");
  for (const Matrix& m : lp) run.log_probs.push_back(m);
  return run;
}

bool print_decoder_invariance(const std::string& checkpoint, int steps, int segments) {
  std::printf("7. Chapter 7's checkpoint in the tree order (S = %d): %s, prompt BOS \"The \", %d steps\n\n"
              "   %4s  %-16s  %-16s  %s\n", segments, checkpoint.c_str(), steps, "tp", "logits digest",
              "log-probs digest", "generated");
  std::string first_logits, first_lp;
  bool same = true;
  for (int p : {1, 2, 4, 8}) {
    if (segments % p != 0) continue;
    const DecoderRun run = run_invariant_decoder(checkpoint, p, steps, segments);
    const std::string logits = sim::digest_matrix(run.logits).fnv1a64;
    const std::string lp = sim::digest_matrix(sim::concat_cols(sim::PerRank<Matrix>(run.log_probs))).fnv1a64;
    if (first_logits.empty()) {
      first_logits = logits;
      first_lp = lp;
    }
    same = same && logits == first_logits && lp == first_lp;
    std::string ids;
    for (std::int64_t id : run.generated) ids += (ids.empty() ? "" : " ") + std::to_string(id);
    std::printf("   %4d  %-16s  %-16s  %s\n", p, logits.c_str(), lp.c_str(), ids.c_str());
  }
  std::printf("\n   one logits digest and one log-probs digest at every tp: %s (the same run as\n"
              "   `atp-ch07-tensor-parallel-decoder --invariant --all-tp`, section 9)\n\n", same ? "yes" : "NO");
  return same;
}

void dump_decoder_run(sim::Dumper& dump, const DecoderRun& run) {
  dump.add_i64("decoder_generated", run.generated, "output");
  dump.add("decoder_logits", run.logits, "output");
  for (std::size_t r = 0; r < run.log_probs.size(); ++r)
    dump.add(sim::Dumper::rank_name("decoder_log_probs", static_cast<int>(r)), run.log_probs[r], "output",
             static_cast<int>(r));
}

}  // namespace atp::ch11
