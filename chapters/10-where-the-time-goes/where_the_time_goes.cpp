/// \file where_the_time_goes.cpp
/// \brief Chapter 10: turning the trace into time. A small real run of the
///        chapter layers is priced and placed on per-rank timelines; its dry
///        twin records the same trace from shapes alone; the same machinery
///        then prices a 7B decoder and a vision-language model at real sizes,
///        checks itself against published measurements and answers the
///        chapter's three questions (sections).
///
/// Run: `atp-ch10-where-the-time-goes [--tp 4] [--hw h100-sxm] [--narrate]
///       [--section tour|validate|strategies|embedding|tp|kernels|all] [--csv]
///       [--measured FILE] [--out DIR]`
///
/// Legend: T = tokens, p = ranks, TTFT = time to first token.
/// Leaves out: a GPU half. The cost model predicts; it measures nothing. It
/// prices the simulator's trace, which describes both halves (each chapter's
/// GPU half runs the same layers in the same order); a GPU session checks the
/// prices with `--section kernels --measured FILE`.
#include "cost_report.hpp"
#include "experiments.hpp"

#include "atp/rng.hpp"
#include "atp/sim/cost/models.hpp"
#include "atp/sim/cost/timeline_files.hpp"
#include "atp/sim/layers/parallel_attention.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"
#include "atp/sim/plan/dry_layers.hpp"
#include "atp/sim/sharding.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace cost = atp::cost;
namespace sim = atp::sim;
namespace sdry = atp::sim::dry;
using atp::Matrix;

namespace {

// The toy block of section 1: sizes every tour p (1, 2, 3, 4, 8) divides.
constexpr std::int64_t kT = 8, kH = 48, kI = 96, kV = 192;
constexpr int kHeads = 24;

/// Section 1's block on real data: embedding, attention, gated MLP, LM head (chapters 4-6's layers).
void real_block(sim::World& w, int p) {
  auto rnd = [](Eigen::Index r, Eigen::Index c, std::uint64_t s) { return atp::random_matrix(r, c, 10, s, 0.5f); };
  std::vector<std::int64_t> ids;
  for (std::int64_t t = 0; t < kT; ++t) ids.push_back((t * 37) % kV);
  const auto emb = sim::VocabParallelEmbedding::from_master(rnd(kV, kH, 1), p);
  const auto x = emb.forward(w, ids, "embed");
  const auto attn = sim::ParallelAttention::from_masters(atp::random_attention_weights(kH, kHeads, kHeads, 2, 10, false),
                                                         kHeads, kHeads, p);
  const auto a = attn.forward(w, x, "block0.attn");
  const auto mlp = sim::ParallelGatedMLP::from_master(rnd(kI, kH, 2), rnd(kI, kH, 3), rnd(kH, kI, 4), p);
  const auto m = mlp.forward(w, a, "block0.mlp");
  sim::ParallelLMHead::tied(emb).forward(w, m, sim::LogitsCollective::AllGather, "lm_head");
}

/// The same block from shapes alone.
void dry_block(sim::World& w) {
  sdry::vocab_parallel_embedding(w, kT, kV, kH, sim::ReduceOrder::RankOrder, "embed");
  sdry::parallel_attention(w, kT, {kH, kHeads, kHeads, 2}, sim::ReduceOrder::RankOrder, "block0.attn");
  sdry::parallel_gated_mlp(w, kT, kH, kI, sim::ReduceOrder::RankOrder, "block0.mlp");
  sdry::parallel_lm_head(w, kT, kV, kH, sim::LogitsCollective::AllGather, "lm_head");
}

bool same_events(const sim::Trace& a, const sim::Trace& b) {
  if (a.events().size() != b.events().size()) return false;
  for (std::size_t i = 0; i < a.events().size(); ++i) {
    const auto &x = a.events()[i], &y = b.events()[i];
    if (x.op != y.op || x.label != y.label || x.rank != y.rank || x.shape_in != y.shape_in ||
        x.shape_out != y.shape_out || x.bytes_sent != y.bytes_sent || x.bytes_received != y.bytes_received ||
        x.flops != y.flops)
      return false;
  }
  return true;
}

void section_tour(int p, const cost::HardwareProfile& hw, bool narrate, const std::string& out_dir) {
  std::printf("1. From a trace to time (a toy block at T=%lld, H=%lld, I=%lld, %d heads, V=%lld; p=%d on %s)\n\n",
              static_cast<long long>(kT), static_cast<long long>(kH), static_cast<long long>(kI), kHeads,
              static_cast<long long>(kV), p, hw.name.c_str());
  sim::World real(p), dry(p);
  real_block(real, p);
  dry_block(dry);
  std::printf("   the real run (chapters 4-6's layers on data) recorded %zu events; its dry twin, from shapes alone,\n"
              "   recorded the same events: %s\n\n",
              real.trace().events().size(), same_events(real.trace(), dry.trace()) ? "yes" : "NO");
  const cost::Timeline t = cost::schedule(real.trace(), hw, {});
  std::printf("%s\n", cost::timeline_table(t).c_str());
  if (narrate) {
    std::printf("   rank 0's timeline, span by span:\n");
    for (const cost::Span& s : t.spans)
      if (s.rank == 0)
        std::printf("   %9.3f us  +%8.3f us  %-10s %-28s %s\n", s.start_s * 1e6, s.seconds() * 1e6,
                    cost::to_string(s.kind), s.label.c_str(), s.detail.c_str());
    std::printf("\n");
  }
  std::printf("   At toy sizes every kernel sits on the %.1f us floor and every collective is pure latency.\n\n",
              hw.efficiency.kernel_floor_us.value);

  std::printf("2. The same layers at real size: llama-2-7b, tp %d on %s\n\n", p, hw.name.c_str());
  for (cost::Phase phase : {cost::Phase::Prefill, cost::Phase::Decode}) {
    cost::Scenario s;
    s.model = "llama-2-7b";
    s.tp = p;
    s.images = 0;
    s.phase = phase;
    s.text_tokens = 2048;
    s.context = phase == cost::Phase::Decode ? 2048 : 0;
    try {
      const cost::ScenarioResult r = cost::run_scenario(s, hw, {});
      std::printf("   %-7s %s: %.3f ms; rank 0 computes %.3f ms and communicates %.3f ms (%zu trace events)\n",
                  cost::to_string(phase), phase == cost::Phase::Prefill ? "of 2048 tokens" : "after 2048 cached",
                  r.timeline.makespan_s * 1e3, r.timeline.ranks[0].compute_s * 1e3,
                  r.timeline.ranks[0].collective_s * 1e3, r.trace_events);
    } catch (const std::invalid_argument& e) {
      std::printf("   %s\n", e.what());
      break;
    }
  }
  std::printf("\n3. A vision-language model: llava-1.5-7b, 4 images of 336x336 + 64 text tokens, tp %d\n\n", p);
  try {
    cost::ScenarioResult runs[3];
    const sdry::EncoderStrategy all[3] = {sdry::EncoderStrategy::OneRank, sdry::EncoderStrategy::Weights,
                                          sdry::EncoderStrategy::Data};
    double vision_end = 0;
    for (int k = 0; k < 3; ++k) {
      cost::Scenario s;
      s.tp = p;
      s.strategy = all[k];
      runs[k] = cost::run_scenario(s, hw, {});
      vision_end = std::max(vision_end, atp::ch10::vision_ready_ms(runs[k].timeline));
    }
    for (int k = 0; k < 3; ++k) {
      const sdry::EncoderStrategy st = all[k];
      const cost::ScenarioResult& r = runs[k];
      std::printf("   strategy %s: time to first token %.3f ms, vision ready at %.3f ms, mean idle %.1f%%\n",
                  sdry::strategy_letter(st), r.timeline.makespan_s * 1e3, atp::ch10::vision_ready_ms(r.timeline),
                  100 * r.timeline.mean_idle_fraction());
      if (!out_dir.empty()) {  // the whole request, and the first 1.25 x the slowest vision stage
        const std::string name = "ch10-llava-" + std::string(sdry::strategy_letter(st)) + "-tp" + std::to_string(p);
        const std::string title = "llava-1.5-7b, 4 images, strategy " + std::string(sdry::strategy_letter(st)) +
                                  ", tp " + std::to_string(p) + ", " + hw.name;
        atp::ch10::write_timeline_files(out_dir, name, title, r.timeline);
        atp::ch10::write_timeline_files(out_dir, name + "-vision", title + ": the vision stage", r.timeline,
                                        1.25 * vision_end * 1e-3);
      }
    }
  } catch (const std::invalid_argument& e) {
    std::printf("   %s\n", e.what());
  }
  std::printf("\n   (atp-cost runs any model, strategy, p and profile; --section all prints the validation\n"
              "   table and the three crossovers.)\n\n");
}

void section_csv(const std::string& section, const cost::HardwareProfile& hw) {
  if (section == "strategies") {
    std::printf("model,p,images,ttft_A,ttft_B,ttft_C,vision_A,vision_B,vision_C,idle_A,idle_B,idle_C,b_fell_back\n");
    for (const char* model : {"llava-1.5-7b", "qwen2.5-vl-7b"})
      for (const auto& pt : atp::ch10::strategy_sweep(model, hw, {2, 4, 8}, 16))
        if (pt.cannot_run.empty())  // a p the model cannot split has no row
          std::printf("%s,%d,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%d\n", model, pt.p, pt.images, pt.ttft_ms[0],
                    pt.ttft_ms[1], pt.ttft_ms[2], pt.encode_ms[0], pt.encode_ms[1], pt.encode_ms[2], pt.idle[0],
                    pt.idle[1], pt.idle[2], pt.b_fell_back ? 1 : 0);
  } else if (section == "embedding") {
    std::printf("phase,tokens,forward_ms,embed_ms,logits_ms,blocks_comm_ms\n");
    for (cost::Phase ph : {cost::Phase::Prefill, cost::Phase::Decode})
      for (const auto& pt : atp::ch10::embedding_sweep("llama-2-7b", hw, 8, ph))
        std::printf("%s,%lld,%.6f,%.6f,%.6f,%.6f\n", cost::to_string(ph), static_cast<long long>(pt.tokens),
                    pt.forward_ms, pt.embed_ms, pt.logits_ms, pt.blocks_comm_ms);
  } else if (section == "tp") {
    std::printf("phase,hw,p,time_ms,compute_ms,comm_ms,weights_ms\n");
    for (cost::Phase ph : {cost::Phase::Prefill, cost::Phase::Decode})
      for (const auto& pt : atp::ch10::tp_sweep("llama-2-7b", {"h100-sxm-2node-ib"}, {1, 2, 4, 8, 16}, ph, 2048))
        std::printf("%s,%s,%d,%.6f,%.6f,%.6f,%.6f\n", cost::to_string(ph), pt.hw.c_str(), pt.p, pt.time_ms,
                    pt.compute_ms, pt.comm_ms, pt.weights_ms);
  } else {
    throw std::invalid_argument("--csv applies to --section strategies, embedding or tp, not '" + section + "'");
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 10: where the time goes. The trace priced on real hardware, per-rank timelines, "
               "checks against published measurements, and the chapter's three crossovers."};
  int tp = 4;
  std::string hw_name = "h100-sxm", hw_file, section = "tour", measured, out_dir;
  bool narrate = false, csv = false;
  app.add_option("--tp", tp, "ranks p for the tour")->check(CLI::Range(1, 1024));
  app.add_option("--hw", hw_name, "hardware profile (atp-cost --list shows them)");
  app.add_option("--hw-file", hw_file, "a hardware profile JSON file instead of --hw")->excludes("--hw");
  app.add_option("--section", section, "tour, validate, strategies, embedding, tp, kernels or all");
  app.add_flag("--narrate", narrate, "print rank 0's timeline span by span");
  app.add_flag("--csv", csv, "print the sweep of --section strategies, embedding or tp as CSV");
  app.add_option("--measured", measured, "kernels: CSV of measured times (kind,name,M,N,K,measured_us)");
  app.add_option("--out", out_dir, "write the tour's timelines (Chrome JSON + SVG) into this existing folder");
  CLI11_PARSE(app, argc, argv);
  try {
    const cost::HardwareProfile hw = atp::ch10::choose_profile(hw_name, hw_file);
    const std::vector<std::string> valid = {"tour", "validate", "strategies", "embedding", "tp", "kernels", "all"};
    if (std::find(valid.begin(), valid.end(), section) == valid.end())
      throw std::invalid_argument("section '" + section +
                                  "' is unknown; valid: tour, validate, strategies, embedding, tp, kernels, all");
    if (csv) {
      section_csv(section, hw);
      return 0;
    }
    if (section == "kernels") {
      atp::ch10::kernel_comparison(hw, measured);
      return 0;
    }
    hw.nodes_for(tp);
    std::printf("Chapter 10: where the time goes (%s)\n\n", hw.name.c_str());
    if (section == "tour" || section == "all") section_tour(tp, hw, narrate, out_dir);
    if (section == "validate" || section == "all") {
      std::printf("The model against published measurements\n\n");
      atp::ch10::print_validation(atp::ch10::validation_rows());
      std::printf("\n");
    }
    if (section == "strategies" || section == "all") {
      std::printf("Crossover 1: when does strategy C (images across ranks) beat B (weights sharded)? (%s)\n\n",
                  hw.name.c_str());
      for (const char* model : {"llava-1.5-7b", "qwen2.5-vl-7b"})
        atp::ch10::print_strategy_sweep(atp::ch10::strategy_sweep(model, hw, {2, 4, 8}, section == "all" ? 8 : 16));
      std::printf("\n");
    }
    if (section == "embedding" || section == "all") {
      std::printf("Crossover 2: is the embedding all-reduce a hotspot?\n\n");
      atp::ch10::print_embedding_sweep("llama-2-7b", hw, std::min(8, hw.max_ranks()));
    }
    if (section == "tp" || section == "all") {
      std::printf("Crossover 3: when does tensor parallelism stop paying?\n\n");
      atp::ch10::print_tp_sweep("llama-2-7b");
    }
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "atp-ch10-where-the-time-goes: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
