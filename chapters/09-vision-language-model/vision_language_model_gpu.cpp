/// \file vision_language_model_gpu.cpp
/// \brief Chapter 9, GPU half: one rank of p real processes running the same
/// vision-language request as vision_language_model.cpp (the three encoder
/// strategies, the projector, the merge, chapter 7's decoder generating
/// greedily) over NCCL, dumping under the same names.
///
/// Run: `atp-launch -p 4 -- atp-ch09-vision-language-model-gpu [--projector llava|merger]
///       [--images 16x16,8x16,16x8] [--before TEXT] [--after "A computer "] [--steps 16]
///       [--strategy all] [--checkpoint PATH] [--seed 2026] [--dump DIR]`
///
/// Each rank writes `DIR/rank<r>/`: features_`s`.rank`r`, merged_`s`.rank`r`;
/// rank 0 also prompt_ids, generated_`s` and logits_`s` and the weights the
/// CPU binary dumps. A tp the language model cannot split exits with 77.
/// Leaves out: the narration and the comparison tables of the CPU chapter.
#include "vlm_inputs.hpp"
#include "../08-vision-encoder/vit_dump.hpp"

#include "atp/cuda/communicator.hpp"
#include "atp/cuda/models/vision_language_model.hpp"
#include "atp/cuda/worker.hpp"
#include "atp/sim/checkpoint/checkpoint.hpp"
#include "atp/sim/dump.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cu = atp::cuda;
namespace sim = atp::sim;
using atp::Matrix;

#ifndef ATP_CH09_CHECKPOINT
#define ATP_CH09_CHECKPOINT "data/fortune-llama.bin"
#endif

int main(int argc, char** argv) {
  CLI::App app{"Chapter 9, GPU half: one rank of the vision-language model over NCCL (run under atp-launch)."};
  int tp = 0, steps = 16;
  std::string projector = "llava", images_text = atp::ch09::kDefaultImages, before = atp::ch09::kDefaultBefore,
              after = atp::ch09::kDefaultAfter, strategy = "all", checkpoint = ATP_CH09_CHECKPOINT, dump_dir;
  std::uint64_t seed = 2026;
  app.add_option("--tp", tp, "expected number of ranks p (checked against atp-launch's)")->check(CLI::Range(1, 64));
  app.add_option("--projector", projector, "llava or merger")->capture_default_str();
  app.add_option("--images", images_text, "the images: HEIGHTxWIDTH pixel sizes, comma-separated")->capture_default_str();
  app.add_option("--before", before, "text between BOS and the image tokens")->capture_default_str();
  app.add_option("--after", after, "text after the image tokens")->capture_default_str();
  app.add_option("--steps", steps, "tokens to generate")->check(CLI::Range(1, 200));
  app.add_option("--strategy", strategy, "all, or one of one-rank (A), weights (B), data (C)")->capture_default_str();
  app.add_option("--checkpoint", checkpoint, "the language model")->capture_default_str();
  app.add_option("--seed", seed, "seed of the vision tower's weights and the images");
  app.add_option("--dump", dump_dir, "write this rank's tensors into DIR/rank<r>/");
  CLI11_PARSE(app, argc, argv);

  int rank = -1;
  try {
    std::vector<sim::EncoderStrategy> wanted;
    if (strategy == "all")
      wanted = {sim::EncoderStrategy::OneRank, sim::EncoderStrategy::Weights, sim::EncoderStrategy::Data};
    else
      wanted = {sim::parse_encoder_strategy(strategy)};
    const sim::ProjectorKind kind = sim::parse_projector_kind(projector);
    cu::Communicator comm = cu::join_world(tp);
    cu::Communicator local(cu::local_world_config(comm));
    rank = comm.rank();
    const sim::Checkpoint ckpt = sim::Checkpoint::open(checkpoint);
    std::optional<cu::ParallelDecoder> decoder;
    try {
      decoder.emplace(cu::ParallelDecoder::load(ckpt, comm));
    } catch (const std::invalid_argument& e) {
      if (rank == 0)
        std::fprintf(stderr, "atp-ch09-vision-language-model-gpu: %s; skipping this chapter at tp %d\n", e.what(),
                     comm.world_size());
      return 77;
    }
    const sim::VisionTower tower = atp::ch09::make_tower(kind, decoder->config().hidden, seed);
    const std::vector<atp::Image> images = atp::ch09::make_images(tower, images_text, seed);
    const std::vector<std::int64_t> prompt = atp::ch09::make_prompt(tower, images, before, after);
    std::unique_ptr<sim::Dumper> dump;
    if (!dump_dir.empty()) {
      dump = std::make_unique<sim::Dumper>(cu::rank_dump_dir(dump_dir, rank),
                                           nlohmann::json{{"chapter", 9}, {"p", comm.world_size()},
                                                          {"projector", projector}, {"images", images_text},
                                                          {"steps", steps}, {"strategy", strategy}, {"seed", seed},
                                                          {"side", "gpu"}});
      if (rank == 0) {
        dump->add_i64("prompt_ids", prompt, "input");
        atp::ch08::dump_inputs(*dump, images, tower.encoder_weights);
        const auto& w = tower.projector_weights;
        dump->add("proj.W1", w.W1, "weight");
        dump->add("proj.b1", w.b1, "weight");
        dump->add("proj.W2", w.W2, "weight");
        dump->add("proj.b2", w.b2, "weight");
        if (w.norm_gamma.size() > 0) {
          dump->add("proj.norm_gamma", w.norm_gamma, "weight");
          dump->add("proj.norm_beta", w.norm_beta, "weight");
        }
      }
    }
    for (const auto s : wanted) {
      const cu::VlmGeneration g =
          cu::vlm_generate(comm, local, *decoder, tower, s, images, prompt, sim::kImageToken, steps);
      if (rank == 0 && !g.strategy.message.empty()) std::printf("%s\n", g.strategy.message.c_str());
      if (!dump) continue;
      const std::string n = atp::ch08::dump_name(s);
      dump->add(sim::Dumper::rank_name("features_" + n, rank), cu::to_host(g.vision.features, comm.stream()),
                "intermediate", rank);
      dump->add(sim::Dumper::rank_name("merged_" + n, rank), cu::to_host(g.merged, comm.stream()), "intermediate",
                rank);
      if (rank == 0) {
        dump->add_i64("generated_" + n, g.generated, "output");
        Matrix logits(static_cast<Eigen::Index>(g.logits.size()), g.logits[0].cols());
        for (std::size_t k = 0; k < g.logits.size(); ++k) logits.row(static_cast<Eigen::Index>(k)) = g.logits[k];
        dump->add("logits_" + n, logits, "output");
      }
    }
    if (dump) dump->finish();
    if (rank == 0)
      std::printf("Chapter 9 (GPU): p=%d ranks, projector %s, %zu images, %d steps: %zu strategies ran on %s%s\n",
                  comm.world_size(), projector.c_str(), images.size(), steps, wanted.size(), comm.describe().c_str(),
                  dump_dir.empty() ? "" : ", tensors dumped");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-ch09-vision-language-model-gpu (rank %d): %s\n", rank, e.what());
    return 1;
  }
  return 0;
}
