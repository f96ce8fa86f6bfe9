/// \file vlm_sections.hpp
/// \brief The printed sections of chapter 9's binary: the model and the
/// prompt, each strategy's collectives and generated text, the comparison of
/// the strategies, where the merged sequence is whole on every rank, and the
/// placeholder-count error.
///
/// Legend as vision_language_model.cpp. Every number the README quotes is
/// printed here. Leaves out: running the model (vlm_generate) and the dump.
#pragma once

#include "vlm_inputs.hpp"

#include "atp/dense_vlm_reference.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/models/reference_weights.hpp"
#include "atp/sim/models/vision_language_model.hpp"
#include "atp/ulp.hpp"

#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace atp::ch09 {

/// One strategy's run and the world (trace) it ran in.
struct VlmRun {
  std::unique_ptr<sim::World> world;  ///< p ranks and their trace
  sim::VlmGeneration g;               ///< what the request produced
};

/// The generated ids as text: printable bytes as themselves, others as a hex escape (backslash, x, two digits).
inline std::string as_text(const std::vector<std::int64_t>& ids) {
  std::string s;
  for (std::int64_t id : ids) {
    if (id >= 32 && id < 127) {
      s += static_cast<char>(id);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(id & 0xff));
      s += buf;
    }
  }
  return s;
}

/// "105 115 32": ids separated by spaces.
inline std::string ids_text(const std::vector<std::int64_t>& ids) {
  std::string s;
  for (std::int64_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

/// Which part of the VLM a trace label belongs to.
inline std::string phase_of(const std::string& label) {
  for (const char* p : {"vlm.vision.vit", "vlm.vision.projector", "vlm.embed", "vlm.decoder", "vlm.lm_head"})
    if (label.rfind(p, 0) == 0) return p;
  return "other";
}

/// The prefill's collectives, phase by phase, with their call counts (rank 0's view; every rank's is the same).
inline void print_prefill_collectives(const VlmRun& run) {
  static const char* names[][2] = {{"vlm.vision.vit", "vision encoder"}, {"vlm.vision.projector", "projector"},
                                   {"vlm.embed", "text embedding"},     {"vlm.decoder", "decoder blocks"},
                                   {"vlm.lm_head", "LM head"}};
  std::map<std::string, std::map<std::string, std::set<std::int64_t>>> calls;  // phase -> op -> call ids
  const auto& events = run.world->trace().events();
  for (std::int64_t i = 0; i < run.g.trace_prefill_end; ++i) {
    const sim::TraceEvent& e = events[static_cast<std::size_t>(i)];
    if (e.op == sim::kMatmulOp || e.rank != 0) continue;
    calls[phase_of(e.label)][e.op].insert(e.call);
  }
  std::printf("   collectives of the prefill, in order (every rank joins each one):\n");
  for (const auto& n : names) {
    std::string ops;
    for (const auto& [op, ids] : calls[n[0]]) ops += (ops.empty() ? "" : ", ") + std::to_string(ids.size()) + " x " + op;
    std::printf("     %-15s %s\n", n[1], ops.empty() ? "none" : ops.c_str());
  }
}

/// Section 1: the model, the images, the prompt.
inline void print_model(const sim::ParallelDecoder& decoder, const std::string& checkpoint,
                        const sim::VisionTower& tower, const std::vector<Image>& images,
                        const std::vector<std::int64_t>& prompt, const std::string& before, const std::string& after,
                        int p) {
  std::printf("1. The model (p=%d)\n\n   language model: %s\n     from %s\n   vision encoder: ViT %s\n", p,
              decoder.config().describe().c_str(), checkpoint.c_str(), tower.encoder.describe().c_str());
  const auto& w = tower.projector_weights;
  if (tower.projector == sim::ProjectorKind::Llava)
    std::printf("   projector: LLaVA's, %lld -> %lld -> %lld (linear_1 column-parallel, GELU, linear_2 row-parallel)\n",
                static_cast<long long>(w.W1.cols()), static_cast<long long>(w.W1.rows()),
                static_cast<long long>(w.W2.rows()));
  else
    std::printf("   projector: Qwen2-VL's patch merger, LayerNorm(%lld), 2x2 patches side by side, %lld -> %lld -> %lld\n",
                static_cast<long long>(w.norm_gamma.cols()), static_cast<long long>(w.W1.cols()),
                static_cast<long long>(w.W1.rows()), static_cast<long long>(w.W2.rows()));
  const auto tokens = sim::image_token_counts(tower, images);
  std::int64_t n = 0;
  std::printf("   images:");
  for (std::size_t i = 0; i < images.size(); ++i) {
    std::printf("%s %dx%d (%lld tokens)", i == 0 ? "" : ",", images[i].height, images[i].width,
                static_cast<long long>(tokens[i]));
    n += tokens[i];
  }
  std::printf("\n   prompt: T = %zu ids = BOS, \"%s\", %lld image placeholders (id %lld), \"%s\"\n\n", prompt.size(),
              before.c_str(), static_cast<long long>(n), static_cast<long long>(sim::kImageToken), after.c_str());
}

/// Sections 2-4: one strategy's request.
inline void print_run(int section, const VlmRun& run, int p) {
  const auto& c = run.g.strategy;
  std::printf("%d. Strategy %s (%s)%s\n\n", section, sim::strategy_letter(c.requested), sim::to_string(c.requested),
              c.message.empty() ? "" : (": " + c.message).c_str());
  print_prefill_collectives(run);
  bool same = true;
  for (int r = 1; r < p; ++r) same = same && compare_bitwise(run.g.merged[r], run.g.merged[0]).equal();
  std::printf("   merged embeddings %s: bitwise equal on all %d ranks: %s\n", shape_string(run.g.merged[0]).c_str(), p,
              same ? "yes" : "NO");
  std::printf("   generated ids: %s\n   as text: \"%s\"\n\n", ids_text(run.g.generated).c_str(),
              as_text(run.g.generated).c_str());
}

/// Section 5: every strategy against the first one (A when all ran).
inline void print_comparison(int section, const std::vector<VlmRun>& runs) {
  std::printf("%d. The strategies side by side (against %s)\n\n   %-11s  %-12s  %-13s  %-13s  %s\n", section,
              sim::strategy_letter(runs[0].g.strategy.requested), "strategy", "same ids", "features", "logits",
              "max |logit difference|");
  for (const auto& run : runs) {
    const auto& a = runs[0].g;
    const auto& b = run.g;
    double worst = 0.0;
    bool logits_equal = true;
    for (std::size_t s = 0; s < b.logits.size() && s < a.logits.size(); ++s) {
      logits_equal = logits_equal && compare_bitwise(b.logits[s], a.logits[s]).equal();
      if (b.logits[s].size() == a.logits[s].size())
        worst = std::max(worst, static_cast<double>((b.logits[s] - a.logits[s]).cwiseAbs().maxCoeff()));
    }
    const bool features_equal = compare_bitwise(b.vision.features[0], a.vision.features[0]).equal();
    std::printf("   %s %-9s  %-12s  %-13s  %-13s  %.3g\n", sim::strategy_letter(b.strategy.requested),
                sim::to_string(b.strategy.used), b.generated == a.generated ? "yes" : "NO",
                features_equal ? "bitwise" : "differ", logits_equal ? "bitwise" : "differ", worst);
  }
  std::printf("\n");
}

/// The float64 dense VLM's ids and logits for the same request (dense_vlm_reference.hpp).
inline std::vector<int> dense_vlm_ids(const sim::Checkpoint& checkpoint, const sim::VisionTower& tower,
                                      const std::vector<Image>& images, const std::vector<std::int64_t>& prompt,
                                      int steps, std::vector<MatrixD>* logits) {
  const MatrixD features =
      vlm_features_ref(tower.encoder, tower.encoder_weights, tower.projector_weights, images,
                       tower.projector == sim::ProjectorKind::Llava ? 0 : tower.merge, tower.merger_eps);
  return vlm_generate_ref(sim::reference_weights(checkpoint), prompt, sim::kImageToken, features, steps, logits);
}

/// Section 6: every strategy against the unsharded model (one rank, fp32) and the float64 dense VLM.
inline void print_dense_comparison(int section, const std::vector<VlmRun>& runs, const sim::Checkpoint& checkpoint,
                                   const sim::VisionTower& tower, const std::vector<Image>& images,
                                   const std::vector<std::int64_t>& prompt, int steps) {
  sim::World one(1);
  const sim::ParallelDecoder whole = sim::ParallelDecoder::load(checkpoint, 1);
  const sim::VlmGeneration unsharded =
      sim::vlm_generate(one, whole, tower, sim::EncoderStrategy::OneRank, images, prompt, sim::kImageToken, steps);
  std::vector<MatrixD> ref_logits;
  const std::vector<int> ref = dense_vlm_ids(checkpoint, tower, images, prompt, steps, &ref_logits);
  const std::vector<std::int64_t> ref_ids(ref.begin(), ref.end());
  std::printf("%d. Against the unsharded model and the float64 dense VLM\n\n", section);
  std::printf("   unsharded (p = 1, fp32): %s\n   float64 dense VLM:       %s\n\n", ids_text(unsharded.generated).c_str(),
              ids_text(ref_ids).c_str());
  std::printf("   %-11s  %-16s  %-14s  %s\n", "strategy", "= unsharded ids", "= float64 ids", "max |logit - float64|");
  for (const auto& run : runs) {
    double worst = 0.0;
    for (std::size_t s = 0; s < run.g.logits.size() && s < ref_logits.size(); ++s)
      worst = std::max(worst, (run.g.logits[s].cast<double>() - ref_logits[s]).cwiseAbs().maxCoeff());
    std::printf("   %s %-9s  %-16s  %-14s  %.3g\n", sim::strategy_letter(run.g.strategy.requested),
                sim::to_string(run.g.strategy.used), run.g.generated == unsharded.generated ? "yes" : "NO",
                run.g.generated == ref_ids ? "yes" : "NO", worst);
  }
  std::printf("\n");
}

/// Section 7: a prompt whose placeholders do not match the image tokens.
inline void print_count_mismatch(int section, const sim::ParallelDecoder& decoder, const sim::VisionTower& tower,
                                 const std::vector<Image>& images, std::vector<std::int64_t> prompt, int p) {
  std::printf("%d. A prompt with one placeholder too few\n\n", section);
  for (std::size_t t = 0; t < prompt.size(); ++t)
    if (prompt[t] == sim::kImageToken) {
      prompt.erase(prompt.begin() + static_cast<std::ptrdiff_t>(t));
      break;
    }
  sim::World world(p);
  try {
    sim::vlm_generate(world, decoder, tower, sim::EncoderStrategy::Data, images, prompt, sim::kImageToken, 1);
    std::printf("   (accepted?!)\n\n");
  } catch (const std::invalid_argument& e) {
    std::printf("   %s\n\n", e.what());
  }
}

}  // namespace atp::ch09
