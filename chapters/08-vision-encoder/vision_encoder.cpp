/// \file vision_encoder.cpp
/// \brief Chapter 8: a vision transformer on p simulated ranks, three ways:
/// A one rank then broadcast, B weights sharded, C images across ranks
/// (vLLM's mm_encoder_tp_mode="data"); who is busy, who waits, what moves,
/// and which strategies keep the dense encoder's bits.
///
/// Run: `atp-ch08-vision-encoder [--tp 4] [--images 32x32,16x24,8x8,24x16,16x16,8x16]
///       [--hidden 48] [--heads 8] [--intermediate 192] [--layers 2] [--patch 4] [--max-grid 8]
///       [--class-token 1] [--patch-bias 0] [--strategy all|one-rank|weights|data]
///       [--seed 2026] [--narrate] [--dump DIR]`
///
/// Legend: p = ranks, R = rows of the batch (patches + one class token per
/// image), H = hidden, nH = heads, I = MLP width, L = padded rows per rank (C).
/// Dumped tensors: see vit_dump.hpp; the manifest's config also holds each
/// strategy's assignment, per-rank busy/idle and lockstep timeline (for
/// scripts/figures.py). Leaves out: the GPU half (vision_encoder_gpu.cpp).
#include "encoder_runs.hpp"
#include "encoder_sections.hpp"
#include "vit_dump.hpp"
#include "vit_inputs.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace sim = atp::sim;
using atp::Matrix;

int main(int argc, char** argv) {
  CLI::App app{"Chapter 8: a tensor-parallel vision encoder, three strategies, on p simulated ranks."};
  int tp = 4, class_token = 1, patch_bias = 0;
  atp::VitConfig config;
  std::string images = atp::ch08::kDefaultImages, strategy = "all", dump_dir;
  bool narrate = false;
  std::uint64_t seed = 2026;
  app.add_option("--tp", tp, "number of ranks p")->check(CLI::Range(1, 64));
  app.add_option("--images", images, "the batch: HEIGHTxWIDTH pixel sizes, comma-separated")->capture_default_str();
  app.add_option("--hidden", config.hidden, "hidden size H (a multiple of --heads)")->check(CLI::Range(1, 4096));
  app.add_option("--heads", config.heads, "attention heads nH")->check(CLI::Range(1, 256));
  app.add_option("--intermediate", config.intermediate, "MLP width I")->check(CLI::Range(1, 16384));
  app.add_option("--layers", config.layers, "transformer blocks")->check(CLI::Range(1, 64));
  app.add_option("--patch", config.patch, "patch size P in pixels")->check(CLI::Range(1, 64));
  app.add_option("--max-grid", config.max_grid, "largest grid of patches per side (position table)")
      ->check(CLI::Range(1, 256));
  app.add_option("--class-token", class_token, "prepend a class token (CLIP: 1, SigLIP: 0)")->check(CLI::Range(0, 1));
  app.add_option("--patch-bias", patch_bias, "patch embedding bias (CLIP: 0, SigLIP: 1)")->check(CLI::Range(0, 1));
  app.add_option("--strategy", strategy, "all, or one of one-rank (A), weights (B), data (C)")->capture_default_str();
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_flag("--narrate", narrate, "print what every rank holds at every step");
  app.add_option("--dump", dump_dir, "write every tensor as .npy plus manifest.json into this folder");
  CLI11_PARSE(app, argc, argv);
  config.class_token = class_token == 1;
  config.patch_bias = patch_bias == 1;

  try {
    std::vector<sim::EncoderStrategy> wanted;
    if (strategy == "all")
      wanted = {sim::EncoderStrategy::OneRank, sim::EncoderStrategy::Weights, sim::EncoderStrategy::Data};
    else
      wanted = {sim::parse_encoder_strategy(strategy)};
    const auto problem = atp::ch08::make_vit_problem(config, images, seed);
    sim::check_vit_images(problem.config, problem.images);
    std::printf("Chapter 8: a tensor-parallel vision encoder (p=%d, ViT %s, seed=%llu)\n\n", tp,
                config.describe().c_str(), static_cast<unsigned long long>(seed));
    atp::ch08::print_patch_embedding(problem);
    atp::ch08::print_batch(problem, tp);

    const Matrix dense = atp::ch08::dense_features(problem);
    const atp::MatrixD ref = atp::ch08::reference_features(problem);
    std::vector<atp::ch08::StrategyRun> runs;
    int section = 3;
    for (const auto s : wanted) {
      atp::ch08::print_strategy_header(section++, s, problem.config, tp);
      runs.push_back(atp::ch08::run_strategy(problem, s, tp, narrate));
      atp::ch08::print_strategy(runs.back(), problem, dense);
    }
    atp::ch08::print_side_by_side(section++, runs, dense, ref);
    atp::ch08::print_patches_vs_flops(section++, problem, tp);
    atp::ch08::print_rank_without_image(section++, problem, tp);
    atp::ch08::print_fallback(section++, problem.config);

    if (!dump_dir.empty()) {
      nlohmann::json cfg = {{"chapter", 8},
                            {"p", tp},
                            {"images", images},
                            {"hidden", config.hidden},
                            {"heads", config.heads},
                            {"intermediate", config.intermediate},
                            {"layers", config.layers},
                            {"patch", config.patch},
                            {"max_grid", config.max_grid},
                            {"class_token", class_token},
                            {"patch_bias", patch_bias},
                            {"strategy", strategy},
                            {"seed", seed},
                            {"eps", config.eps},
                            {"gelu", atp::gelu_form_name(config.gelu)},
                            {"rows_per_image", sim::vit_rows_per_image(problem.config, problem.images)},
                            {"runs", atp::ch08::runs_json(runs)}};
      sim::Dumper dump(dump_dir, cfg);
      atp::ch08::dump_inputs(dump, problem.images, problem.weights);
      for (const auto& run : runs) {
        const std::string n = atp::ch08::dump_name(run.choice.requested);
        dump.add_per_rank("features_" + n, run.encoded.features, "output");
        if (run.choice.used == sim::EncoderStrategy::Data) {
          dump.add_per_rank("local_" + n, run.encoded.local, "intermediate");
          dump.add_per_rank("padded_" + n, run.encoded.padded, "intermediate");
          dump.add_per_rank("gathered_" + n, run.encoded.gathered, "intermediate");
        }
      }
      dump.add("features_dense", dense, "reference");
      dump.finish();
      std::printf("Wrote the dump to %s\n", dump_dir.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
