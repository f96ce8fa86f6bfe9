/// \file vision_encoder_gpu.cpp
/// \brief Chapter 8, GPU half: one rank of p real processes running the same
/// strategies as vision_encoder.cpp (A one rank + broadcast, B weights
/// sharded, C images across ranks with a padded all-gather) on the same
/// images and weights, over NCCL, dumping its tensors under the same names.
///
/// Run: `atp-launch -p 4 -- atp-ch08-vision-encoder-gpu [--images 32x32,16x24,8x8,24x16,16x16,8x16]
///       [--hidden 48] [--heads 8] [--intermediate 192] [--layers 2] [--patch 4] [--max-grid 8]
///       [--class-token 1] [--patch-bias 0] [--strategy all] [--seed 2026] [--dump DIR]`
///
/// Legend as vision_encoder.cpp. Each rank writes `DIR/rank<r>/`: its
/// `features_<s>.rank<r>` and, for the data strategy, `local_`, `padded_` and `gathered_<s>.rank<r>`;
/// rank 0 also the images and weights (vit_dump.hpp). Strategies A and C run
/// their whole encoder in a second communicator of one rank per process.
/// Leaves out: the narration, busy/idle tables and float64 comparisons of the CPU chapter.
#include "vit_dump.hpp"
#include "vit_inputs.hpp"

#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/vision/encoder_strategies.hpp"
#include "atp/cuda/worker.hpp"
#include "atp/sim/dump.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace cu = atp::cuda;
namespace sim = atp::sim;

int main(int argc, char** argv) {
  CLI::App app{"Chapter 8, GPU half: one rank of the vision encoder strategies over NCCL (run under atp-launch)."};
  int tp = 0, class_token = 1, patch_bias = 0;
  atp::VitConfig config;
  std::string images = atp::ch08::kDefaultImages, strategy = "all", dump_dir;
  std::uint64_t seed = 2026;
  app.add_option("--tp", tp, "expected number of ranks p (checked against atp-launch's; default: whatever it is)")
      ->check(CLI::Range(1, 64));
  app.add_option("--images", images, "the batch: HEIGHTxWIDTH pixel sizes, comma-separated")->capture_default_str();
  app.add_option("--hidden", config.hidden, "hidden size H (a multiple of --heads)")->check(CLI::Range(1, 4096));
  app.add_option("--heads", config.heads, "attention heads nH")->check(CLI::Range(1, 256));
  app.add_option("--intermediate", config.intermediate, "MLP width I")->check(CLI::Range(1, 16384));
  app.add_option("--layers", config.layers, "transformer blocks")->check(CLI::Range(1, 64));
  app.add_option("--patch", config.patch, "patch size P in pixels")->check(CLI::Range(1, 64));
  app.add_option("--max-grid", config.max_grid, "largest grid of patches per side")->check(CLI::Range(1, 256));
  app.add_option("--class-token", class_token, "prepend a class token (1) or not (0)")->check(CLI::Range(0, 1));
  app.add_option("--patch-bias", patch_bias, "patch embedding bias (1) or not (0)")->check(CLI::Range(0, 1));
  app.add_option("--strategy", strategy, "all, or one of one-rank (A), weights (B), data (C)")->capture_default_str();
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_option("--dump", dump_dir, "write this rank's tensors into DIR/rank<r>/ (.npy plus manifest.json)");
  CLI11_PARSE(app, argc, argv);
  config.class_token = class_token == 1;
  config.patch_bias = patch_bias == 1;

  int rank = -1;
  try {
    std::vector<sim::EncoderStrategy> wanted;
    if (strategy == "all")
      wanted = {sim::EncoderStrategy::OneRank, sim::EncoderStrategy::Weights, sim::EncoderStrategy::Data};
    else
      wanted = {sim::parse_encoder_strategy(strategy)};
    cu::Communicator comm = cu::join_world(tp);
    cu::Communicator local(cu::local_world_config(comm));  // the whole encoders of A and C run here
    rank = comm.rank();
    const int p = comm.world_size();
    const auto problem = atp::ch08::make_vit_problem(config, images, seed);
    std::unique_ptr<sim::Dumper> dump;
    if (!dump_dir.empty()) {
      dump = std::make_unique<sim::Dumper>(cu::rank_dump_dir(dump_dir, rank),
                                           nlohmann::json{{"chapter", 8}, {"p", p}, {"images", images},
                                                          {"hidden", config.hidden}, {"heads", config.heads},
                                                          {"intermediate", config.intermediate},
                                                          {"layers", config.layers}, {"patch", config.patch},
                                                          {"max_grid", config.max_grid}, {"class_token", class_token},
                                                          {"patch_bias", patch_bias}, {"strategy", strategy},
                                                          {"seed", seed}, {"side", "gpu"}});
      if (rank == 0) atp::ch08::dump_inputs(*dump, problem.images, problem.weights);
    }
    for (const auto s : wanted) {
      const sim::StrategyChoice choice = sim::choose_encoder_strategy(s, problem.config, p);
      if (rank == 0 && !choice.message.empty()) std::printf("%s\n", choice.message.c_str());
      const cu::EncodedImages e =
          cu::encode_images(comm, local, choice.used, problem.config, problem.weights, problem.images);
      if (dump) {
        const std::string n = atp::ch08::dump_name(s);
        auto add = [&](const std::string& name, const cu::DeviceMatrix& d, const char* role) {
          dump->add(sim::Dumper::rank_name(name, rank), cu::to_host(d, comm.stream()), role, rank);
        };
        add("features_" + n, e.features, "output");
        if (choice.used == sim::EncoderStrategy::Data) {
          add("local_" + n, e.local, "intermediate");
          add("padded_" + n, e.padded, "intermediate");
          add("gathered_" + n, e.gathered, "intermediate");
        }
      }
    }
    if (dump) dump->finish();
    if (rank == 0)
      std::printf("Chapter 8 (GPU): p=%d ranks, %zu images, ViT %s, seed=%llu: %zu strategies ran on %s%s\n", p,
                  problem.images.size(), config.describe().c_str(), static_cast<unsigned long long>(seed),
                  wanted.size(), comm.describe().c_str(), dump_dir.empty() ? "" : ", tensors dumped");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-ch08-vision-encoder-gpu (rank %d): %s\n", rank, e.what());
    return 1;
  }
  return 0;
}
