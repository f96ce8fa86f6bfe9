/// \file vision_language_model.cpp
/// \brief Chapter 9: a tensor-parallel vision-language model on p simulated
/// ranks: chapter 8's encoder (strategy A, B or C), a projector into the
/// language model's width (LLaVA's or Qwen2-VL's patch merger), the image
/// features merged into the text embeddings, and chapter 7's real trained
/// language model (data/fortune-llama.bin) generating greedily.
///
/// Run: `atp-ch09-vision-language-model [--tp 4] [--projector llava|merger]
///       [--images 16x16,8x16,16x8] [--before TEXT] [--after "A computer "] [--steps 16]
///       [--strategy all|one-rank|weights|data] [--checkpoint PATH] [--seed 2026] [--narrate] [--dump DIR]`
///
/// Legend: p = ranks, N = image tokens, T = prompt ids, D = 64 (the decoder's
/// width), V = 256 (bytes). A tp the language model cannot split (3: its 8
/// heads) exits with status 77 and says so, as chapter 7 does; the tour
/// reports it as a skip. Dumped (--dump): prompt_ids, the encoder's images and
/// weights (chapter 8's names) and the projector's W1, b1, W2, b2
/// (+ norm_gamma, norm_beta); per strategy s: features_`s`.rank`r` (N, D),
/// merged_`s`.rank`r` (T, D), generated_`s` (ids), logits_`s` (steps, V).
/// Leaves out: the GPU half (vision_language_model_gpu.cpp).
#include "vlm_inputs.hpp"
#include "vlm_sections.hpp"
#include "../08-vision-encoder/vit_dump.hpp"

#include "atp/sim/checkpoint/checkpoint.hpp"
#include "atp/sim/dump.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace sim = atp::sim;
using atp::Matrix;

#ifndef ATP_CH09_CHECKPOINT
#define ATP_CH09_CHECKPOINT "data/fortune-llama.bin"
#endif

int main(int argc, char** argv) {
  CLI::App app{"Chapter 9: a tensor-parallel vision-language model on p simulated ranks."};
  int tp = 4, steps = 16;
  std::string projector = "llava", images_text = atp::ch09::kDefaultImages, before = atp::ch09::kDefaultBefore,
              after = atp::ch09::kDefaultAfter, strategy = "all", checkpoint = ATP_CH09_CHECKPOINT, dump_dir;
  std::uint64_t seed = 2026;
  bool narrate = false;
  app.add_option("--tp", tp, "number of ranks p")->check(CLI::Range(1, 64));
  app.add_option("--projector", projector, "llava (LLaVA's MLP) or merger (Qwen2-VL's patch merger)")
      ->capture_default_str();
  app.add_option("--images", images_text, "the images: HEIGHTxWIDTH pixel sizes, comma-separated")->capture_default_str();
  app.add_option("--before", before, "text between BOS and the image tokens")->capture_default_str();
  app.add_option("--after", after, "text after the image tokens")->capture_default_str();
  app.add_option("--steps", steps, "tokens to generate")->check(CLI::Range(1, 200));
  app.add_option("--strategy", strategy, "all, or one of one-rank (A), weights (B), data (C)")->capture_default_str();
  app.add_option("--checkpoint", checkpoint, "the language model (llama2.c .bin or .safetensors)")
      ->capture_default_str();
  app.add_option("--seed", seed, "seed of the vision tower's weights and the images");
  app.add_flag("--narrate", narrate, "print what every rank holds at every step");
  app.add_option("--dump", dump_dir, "write the tensors as .npy plus manifest.json into this folder");
  CLI11_PARSE(app, argc, argv);

  try {
    std::vector<sim::EncoderStrategy> wanted;
    if (strategy == "all")
      wanted = {sim::EncoderStrategy::OneRank, sim::EncoderStrategy::Weights, sim::EncoderStrategy::Data};
    else
      wanted = {sim::parse_encoder_strategy(strategy)};
    const sim::ProjectorKind kind = sim::parse_projector_kind(projector);
    const sim::Checkpoint ckpt = sim::Checkpoint::open(checkpoint);
    std::optional<sim::ParallelDecoder> decoder;
    try {
      decoder.emplace(sim::ParallelDecoder::load(ckpt, tp));
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "atp-ch09-vision-language-model: %s; skipping this chapter at tp %d\n", e.what(), tp);
      return 77;
    }
    const sim::VisionTower tower = atp::ch09::make_tower(kind, decoder->config().hidden, seed);
    const std::vector<atp::Image> images = atp::ch09::make_images(tower, images_text, seed);
    const std::vector<std::int64_t> prompt = atp::ch09::make_prompt(tower, images, before, after);
    std::printf("Chapter 9: a tensor-parallel vision-language model (p=%d, projector %s, seed=%llu)\n\n", tp,
                projector.c_str(), static_cast<unsigned long long>(seed));
    atp::ch09::print_model(*decoder, checkpoint, tower, images, prompt, before, after, tp);

    std::vector<atp::ch09::VlmRun> runs;
    int section = 2;
    for (const auto s : wanted) {
      atp::ch09::VlmRun run{std::make_unique<sim::World>(tp), {}};
      if (narrate) run.world->narrate_to(std::cout);
      run.g = sim::vlm_generate(*run.world, *decoder, tower, s, images, prompt, sim::kImageToken, steps);
      run.world->stop_narrating();
      atp::ch09::print_run(section++, run, tp);
      runs.push_back(std::move(run));
    }
    atp::ch09::print_comparison(section++, runs);
    atp::ch09::print_dense_comparison(section++, runs, ckpt, tower, images, prompt, steps);
    atp::ch09::print_count_mismatch(section++, *decoder, tower, images, prompt, tp);

    if (!dump_dir.empty()) {
      sim::Dumper dump(dump_dir, {{"chapter", 9}, {"p", tp}, {"projector", projector}, {"images", images_text},
                                  {"before", before}, {"after", after}, {"steps", steps}, {"strategy", strategy},
                                  {"seed", seed}, {"vit", tower.encoder.describe()}, {"patch", tower.encoder.patch},
                                  {"hidden", tower.encoder.hidden}, {"heads", tower.encoder.heads},
                                  {"layers", tower.encoder.layers}, {"max_grid", tower.encoder.max_grid},
                                  {"class_token", tower.encoder.class_token ? 1 : 0}, {"eps", tower.encoder.eps},
                                  {"merge", tower.merge}, {"merger_eps", tower.merger_eps},
                                  {"image_token", sim::kImageToken},
                                  {"tokens_per_image", sim::image_token_counts(tower, images)}});
      dump.add_i64("prompt_ids", prompt, "input");
      atp::ch08::dump_inputs(dump, images, tower.encoder_weights);
      const auto& w = tower.projector_weights;
      dump.add("proj.W1", w.W1, "weight");
      dump.add("proj.b1", w.b1, "weight");
      dump.add("proj.W2", w.W2, "weight");
      dump.add("proj.b2", w.b2, "weight");
      if (w.norm_gamma.size() > 0) {
        dump.add("proj.norm_gamma", w.norm_gamma, "weight");
        dump.add("proj.norm_beta", w.norm_beta, "weight");
      }
      for (const auto& run : runs) {
        const std::string n = atp::ch08::dump_name(run.g.strategy.requested);
        dump.add_per_rank("features_" + n, run.g.vision.features, "intermediate");
        dump.add_per_rank("merged_" + n, run.g.merged, "intermediate");
        dump.add_i64("generated_" + n, run.g.generated, "output");
        Matrix logits(static_cast<Eigen::Index>(run.g.logits.size()), run.g.logits[0].cols());
        for (std::size_t s = 0; s < run.g.logits.size(); ++s) logits.row(static_cast<Eigen::Index>(s)) = run.g.logits[s];
        dump.add("logits_" + n, logits, "output");
      }
      dump.finish();
      std::printf("Wrote the dump to %s\n", dump_dir.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
