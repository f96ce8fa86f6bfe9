/// \file encoder_sections.hpp
/// \brief The printed sections of chapter 8's binary, in the order the README
/// tells them: the patch embedding as a matmul, the batch, each strategy with
/// its busy/idle table, the comparison, patches vs flops, a rank with no
/// image (and the hang it must avoid), the fallback when heads do not divide.
///
/// Legend as vision_encoder.cpp. Every number the README quotes is printed
/// here. Leaves out: the dump (vit_dump.hpp) and the runs themselves (encoder_runs.hpp).
#pragma once

#include "encoder_runs.hpp"

#include "atp/matmul_cpu.hpp"
#include "atp/sim/collective_plan.hpp"
#include "atp/sim/compute.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace atp::ch08 {

/// "[a, b]" for a plan, or "nothing".
inline std::string plan_text(const sim::CollectivePlan& plan) {
  if (plan.empty()) return "nothing";
  std::string s;
  for (const auto& c : plan) s += (s.empty() ? "" : ", ") + c;
  return "[" + s + "]";
}

/// Each rank's collectives in one line when they agree, else one line per rank.
inline void print_plans(const std::vector<sim::CollectivePlan>& plans) {
  if (sim::collective_plan_mismatch(plans).empty()) {
    std::printf("   collectives, every rank alike: %s\n", plan_text(plans.empty() ? sim::CollectivePlan{} : plans[0]).c_str());
    return;
  }
  for (std::size_t r = 0; r < plans.size(); ++r) std::printf("   rank %zu issues %s\n", r, plan_text(plans[r]).c_str());
}

/// Section 1: the stride = kernel convolution is one matmul, bit for bit.
inline void print_patch_embedding(const VitProblem& pb) {
  const Image& img = pb.images[0];
  const PatchGrid g = patch_grid(img, pb.config.patch);
  const Matrix patches = patchify(img, pb.config.patch);
  const Matrix* bias = pb.config.patch_bias ? &pb.weights.b_patch : nullptr;
  const Matrix conv = conv2d_patch_embedding_direct(img, pb.weights.W_patch, bias, pb.config.patch);
  const BitwiseReport r = compare_bitwise(conv, atp::linear(patches, pb.weights.W_patch, bias));
  std::printf("1. The patch embedding is a matmul\n\n"
              "   image 0 is %dx%d pixels with %d channels, cut into a grid of %dx%d patches of %dx%d pixels -> patches %s\n"
              "   (each row one patch, flattened in the (channel, row, column) order of Conv2d's weight)\n"
              "   convolution with kernel = stride = %d, computed as a convolution, vs patches W_patch^T:\n"
              "   %zu of %zu elements differ (every output reads one patch: the same fma chain over its %d values)\n",
              img.height, img.width, img.channels, g.rows, g.cols, pb.config.patch, pb.config.patch,
              shape_string(patches).c_str(), pb.config.patch, r.differing, r.count, pb.config.patch_dim());
  // Why it stays replicated: its share of a real tower (CLIP ViT-L/14 at 336 px: 24 blocks, H 1024, I 4096, 577 positions).
  const std::int64_t H = 1024, I = 4096, blocks = 24, patch_w = 3 * 14 * 14 * H;
  const std::int64_t per_block = 4 * (H * H + H) + (H * I + I) + (I * H + H) + 4 * H;  // attention, MLP, 2 LayerNorms
  const std::int64_t tower = patch_w + H + 577 * H + 2 * H + blocks * per_block;
  std::printf("   CLIP ViT-L/14-336 for scale: the patch embedding is %lld of the tower's %lld weights (%.2f%%)\n\n",
              static_cast<long long>(patch_w), static_cast<long long>(tower), 100.0 * patch_w / tower);
}

/// Section 2: the batch, image by image.
inline void print_batch(const VitProblem& pb, int p) {
  std::printf("2. The batch: %zu images of different sizes give different patch counts (p=%d ranks)\n\n"
              "   %5s  %8s  %6s  %7s  %5s\n", pb.images.size(), p, "image", "pixels", "grid", "patches", "rows");
  std::int64_t patches = 0, rows = 0;
  for (std::size_t i = 0; i < pb.images.size(); ++i) {
    const PatchGrid g = patch_grid(pb.images[i], pb.config.patch);
    const std::string px = std::to_string(pb.images[i].height) + "x" + std::to_string(pb.images[i].width);
    const std::string gr = std::to_string(g.rows) + "x" + std::to_string(g.cols);
    std::printf("   %5zu  %8s  %6s  %7lld  %5lld\n", i, px.c_str(), gr.c_str(), static_cast<long long>(g.count()),
                static_cast<long long>(pb.config.rows_for_patches(g.count())));
    patches += g.count();
    rows += pb.config.rows_for_patches(g.count());
  }
  std::printf("   %5s  %8s  %6s  %7lld  %5lld   (rows = patches%s)\n\n", "all", "", "", static_cast<long long>(patches),
              static_cast<long long>(rows), pb.config.class_token ? " + 1 class token each" : "");
}

/// "rank 1" or "ranks 1..3": the ranks first..last.
inline std::string ranks_text(int first, int last) {
  return first == last ? "rank " + std::to_string(first)
                       : "ranks " + std::to_string(first) + ".." + std::to_string(last);
}

/// Sections 3-5, before the run (so narration follows its title): what the strategy does.
inline void print_strategy_header(int section, sim::EncoderStrategy requested, const VitConfig& config, int p) {
  static const char* what[] = {"rank 0 encodes every image alone, then one broadcast",
                               "every layer split across the ranks: 2 all-reduces per block",
                               "whole weights on every rank, whole images split across ranks, one padded all-gather"};
  std::printf("%d. Strategy %s (%s): %s\n\n", section, sim::strategy_letter(requested), sim::to_string(requested),
              what[static_cast<int>(requested)]);
  const auto choice = sim::choose_encoder_strategy(requested, config, p);
  if (!choice.message.empty()) std::printf("   %s\n\n", choice.message.c_str());
}

/// Sections 3-5, after the run: its busy/idle table, its collectives and its bits.
inline void print_strategy(const StrategyRun& run, const VitProblem& pb, const Matrix& dense) {
  const auto used = run.choice.used;
  const int p = run.world->size();
  if (used == sim::EncoderStrategy::Data) {
    std::vector<std::int64_t> sizes;
    for (const Image& img : pb.images) sizes.push_back(patch_grid(img, pb.config.patch).count());
    const Eigen::Index L = run.encoded.padded[0].rows();
    std::printf("   images by patches, largest first, each to the least-loaded rank:\n   %s\n",
                run.encoded.assignment.describe(sizes).c_str());
    std::int64_t pad_rows = 0;
    for (int r = 0; r < p; ++r) pad_rows += L - run.encoded.local[r].rows();
    std::printf("   rows per rank before padding:");
    for (int r = 0; r < p; ++r) std::printf(" %lld", static_cast<long long>(run.encoded.local[r].rows()));
    std::printf("; every rank sends L = %lld rows (%lld rows of padding in all)\n\n", static_cast<long long>(L),
                static_cast<long long>(pad_rows));
  }
  std::printf("%s", sim::busy_idle_table(sim::busy_idle(run.world->trace())).c_str());
  if (used == sim::EncoderStrategy::Weights) {
    std::int64_t embed = 0;
    for (const auto& e : run.world->trace().events(sim::kMatmulOp))
      if (e.rank == 0 && e.label.find(".patch_embed") != std::string::npos) embed += e.flops;
    std::printf("   of which the replicated patch embedding: %.3f MFLOP on every rank\n", embed / 1e6);
  }
  print_plans(run.encoded.plans);
  const BitwiseReport bits = worst_vs_dense(run.encoded, dense);
  if (bits.equal())
    std::printf("   features vs the dense encoder, every rank: 0 of %zu elements differ (bitwise equal)\n\n", bits.count);
  else
    std::printf("   features vs the dense encoder: %zu of %zu elements differ, max %u ulp, max |difference| %.3g\n"
                "   (Wo and fc2 split each dot product over the ranks; the all-reduce adds the pieces in another order)\n\n",
                bits.differing, bits.count, bits.max_ulp, max_abs_difference(run.encoded.features[0], dense));
}

/// The comparison table of every strategy that ran.
inline void print_side_by_side(int section, const std::vector<StrategyRun>& runs, const Matrix& dense,
                               const MatrixD& ref) {
  std::printf("%d. Side by side (busiest rank, all ranks, share of rank-time idle, bytes sent by all ranks,\n"
              "   collectives per rank, elements differing from the dense encoder, max |error| vs float64)\n\n"
              "   %-11s  %10s  %10s  %5s  %10s  %11s  %9s  %8s  %9s\n", section, "strategy", "busy MFLOP",
              "all MFLOP", "idle%", "bytes sent", "collectives", "differing", "max ulp", "vs fp64");
  for (const auto& run : runs) print_summary_row(run, dense, ref);
  std::printf("\n");
}

/// Equal patches are not equal work: C's per-rank patches against its flops.
inline void print_patches_vs_flops(int section, const VitProblem& pb, int p) {
  const StrategyRun c = run_strategy(pb, sim::EncoderStrategy::Data, p, false);
  const auto rows = sim::busy_idle(c.world->trace());
  std::printf("%d. Balanced patches are not balanced flops (strategy C, p=%d): attention costs n^2 per image\n\n"
              "   %4s  %7s  %7s  %10s  %15s\n", section, p, "rank", "images", "patches", "MFLOP", "MFLOP per patch");
  for (int r = 0; r < p; ++r) {
    const auto patches = c.encoded.assignment.load[static_cast<std::size_t>(r)];
    const double mflop = rows[static_cast<std::size_t>(r)].flops / 1e6;
    std::printf("   %4d  %7zu  %7lld  %10.3f  %15.4f\n", r,
                c.encoded.assignment.images_of_rank[static_cast<std::size_t>(r)].size(),
                static_cast<long long>(patches), mflop, patches > 0 ? mflop / static_cast<double>(patches) : 0.0);
  }
  const auto imb = sim::imbalance(rows);
  std::printf("   busiest / mean = %.3f; no assignment of whole images can beat the largest image's share\n\n",
              imb.max_over_mean);
}

/// A batch with fewer images than ranks: the idle ranks still join the all-gather.
inline void print_rank_without_image(int section, const VitProblem& pb, int p) {
  std::printf("%d. A rank with no image (one image, p=%d)\n\n", section, p);
  if (p < 2) {
    std::printf("   with p = 1 the only rank has the image; run with --tp 2 or more\n\n");
    return;
  }
  const VitProblem one{pb.config, pb.weights, {pb.images[0]}};
  const StrategyRun c = run_strategy(one, sim::EncoderStrategy::Data, p, false);
  std::printf("   rank 0 encodes the image (%lld rows); %s nothing to encode and send%s %lld rows of zeros\n",
              static_cast<long long>(c.encoded.local[0].rows()), (ranks_text(1, p - 1) + (p == 2 ? " has" : " have")).c_str(),
              p == 2 ? "s" : "",
              static_cast<long long>(c.encoded.padded[0].rows()));
  print_plans(c.encoded.plans);
  std::printf("   A collective completes only when every rank has called it: skip the all-gather on the idle ranks\n"
              "   and rank 0 waits forever. The same happens if any collective is left INSIDE the data-parallel\n"
              "   encoder, because only ranks with images run the encoder. SGLang shipped exactly that: a\n"
              "   vocab-parallel position embedding in Qwen3-VL's DP encoder (sglang PRs 20759, 20788). Replayed:\n");
  sim::World w(p);
  try {
    sim::encode_data(w, sim::ParallelVisionTransformer::from_master(pb.config, pb.weights, 1), one.images, "vit",
                     {.tp_position_embedding = true});
    std::printf("   (no mismatch?!)\n\n");
  } catch (const sim::CollectiveMismatch& e) {
    std::printf("   %s\n\n", e.what());
  }
}

/// Which p admit strategy B for this config, and the fallback message otherwise.
inline void print_fallback(int section, const VitConfig& config) {
  std::printf("%d. When the heads do not divide: strategy B at each p (nH=%d, I=%d)\n\n", section, config.heads,
              config.intermediate);
  for (int p : {1, 2, 3, 4, 5, 6, 8}) {
    const auto c = sim::choose_encoder_strategy(sim::EncoderStrategy::Weights, config, p);
    std::printf("   p=%d: %s\n", p, c.message.empty() ? "B runs" : c.message.c_str());
  }
  std::printf("\n");
}

/// What the figures need: per run, the assignment, busy/idle and the lockstep timeline.
inline nlohmann::json runs_json(const std::vector<StrategyRun>& runs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& run : runs) {
    nlohmann::json busy = nlohmann::json::array(), timeline = nlohmann::json::array();
    for (const auto& r : sim::busy_idle(run.world->trace()))
      busy.push_back({{"rank", r.rank}, {"flops", r.flops}, {"idle_flops", r.idle_flops},
                      {"bytes_sent", r.bytes_sent}, {"bytes_received", r.bytes_received}});
    for (const auto& s : sim::lockstep_timeline(run.world->trace()))
      timeline.push_back({{"collective", s.collective}, {"label", s.label}, {"flops", s.flops}, {"bytes", s.bytes}});
    out.push_back({{"requested", sim::to_string(run.choice.requested)},
                   {"used", sim::to_string(run.choice.used)},
                   {"message", run.choice.message},
                   {"images_of_rank", run.encoded.assignment.images_of_rank},
                   {"busy", busy},
                   {"timeline", timeline}});
  }
  return out;
}

}  // namespace atp::ch08
