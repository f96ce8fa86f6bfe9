/// \file encoder_strategies.cpp
/// \brief Strategies A (one rank + broadcast), B (weights sharded) and C
///        (images across ranks, padded all-gather) on the simulator.
#include "atp/sim/vision/encoder_strategies.hpp"

#include "atp/sim/collectives.hpp"
#include "atp/sim/narrate.hpp"
#include "atp/sim/rank_local.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <stdexcept>

namespace atp::sim {
namespace {

std::string str(long long v) { return std::to_string(v); }

void require_whole(const ParallelVisionTransformer& whole, const char* who) {
  if (whole.p() != 1)
    throw std::invalid_argument(std::string(who) + ": the encoder is split across tp " + str(whole.p()) +
                                "; this strategy runs a whole encoder per rank (build it with p = 1)");
}

/// Where each image's rows start in the original order.
std::vector<Eigen::Index> row_offsets(const std::vector<Eigen::Index>& rows) {
  std::vector<Eigen::Index> at(rows.size() + 1, 0);
  for (std::size_t i = 0; i < rows.size(); ++i) at[i + 1] = at[i] + rows[i];
  return at;
}

}  // namespace

const char* to_string(EncoderStrategy strategy) {
  switch (strategy) {
    case EncoderStrategy::OneRank: return "one-rank";
    case EncoderStrategy::Weights: return "weights";
    case EncoderStrategy::Data: return "data";
  }
  return "?";
}

const char* strategy_letter(EncoderStrategy strategy) {
  switch (strategy) {
    case EncoderStrategy::OneRank: return "A";
    case EncoderStrategy::Weights: return "B";
    case EncoderStrategy::Data: return "C";
  }
  return "?";
}

EncoderStrategy parse_encoder_strategy(const std::string& text) {
  std::string t = text;
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "one-rank" || t == "a") return EncoderStrategy::OneRank;
  if (t == "weights" || t == "b") return EncoderStrategy::Weights;
  if (t == "data" || t == "c") return EncoderStrategy::Data;
  throw std::invalid_argument("encoder strategy '" + text + "' is unknown; valid: one-rank (A), weights (B), data (C)");
}

std::string weights_strategy_obstacle(const VitConfig& config, int p) {
  if (p < 1) return "tp " + str(p) + " is not a number of ranks";
  if (config.heads % p != 0)
    return "the encoder's " + str(config.heads) + " attention heads are not divisible by tp " + str(p) +
           " (every rank must hold whole heads)";
  if (config.intermediate % p != 0)
    return "the encoder's MLP width " + str(config.intermediate) + " is not divisible by tp " + str(p);
  return "";
}

StrategyChoice choose_encoder_strategy(EncoderStrategy requested, const VitConfig& config, int p) {
  StrategyChoice c{requested, requested, ""};
  if (requested != EncoderStrategy::Weights) return c;
  const std::string why = weights_strategy_obstacle(config, p);
  if (why.empty()) return c;
  c.used = EncoderStrategy::Data;
  c.message = "strategy B (weights) is impossible at tp " + str(p) + ": " + why +
              "; falling back to strategy C (data), as vLLM does for its vision encoders";
  return c;
}

EncodedImages encode_one_rank(World& world, const ParallelVisionTransformer& whole, const std::vector<Image>& images,
                              const std::string& label) {
  require_whole(whole, "encode_one_rank");
  const int p = world.size();
  EncodedImages e;
  e.strategy = EncoderStrategy::OneRank;
  e.rows_per_image = vit_rows_per_image(whole.config(), images);
  e.assignment.images_of_rank.assign(static_cast<std::size_t>(p), {});
  e.assignment.load.assign(static_cast<std::size_t>(p), 0);
  for (std::size_t i = 0; i < images.size(); ++i) {
    e.assignment.images_of_rank[0].push_back(static_cast<int>(i));
    e.assignment.load[0] += patch_grid(images[i], whole.config().patch).count();
  }
  const Matrix out0 =
      run_on_rank(world, 0, [&](World& local) { return whole.forward(local, images, label + ".encode")[0]; });
  e.local = make_per_rank(p, [&](int r) -> Matrix { return r == 0 ? out0 : Matrix(0, 0); });  // others: a receive buffer
  if (p > 1)
    narrate_text(world, label + ": rank 0 encoded all " + str(static_cast<long long>(images.size())) +
                            " images alone; " + (p == 2 ? "rank 1" : "ranks 1.." + str(p - 1)) + " waited");
  // The receivers know the shape (R, H) from the image sizes every rank was given.
  e.features = broadcast(world, e.local, 0, label + ".broadcast");
  e.plans = collective_plans(world.trace(), label);
  return e;
}

EncodedImages encode_weights(World& world, const ParallelVisionTransformer& sharded, const std::vector<Image>& images,
                             const std::string& label) {
  EncodedImages e;
  e.strategy = EncoderStrategy::Weights;
  e.rows_per_image = vit_rows_per_image(sharded.config(), images);
  e.features = sharded.forward(world, images, label + ".encode");
  e.plans = collective_plans(world.trace(), label);
  return e;
}

DataParallelLayout data_parallel_layout(const VitConfig& config, const std::vector<Image>& images, int p) {
  DataParallelLayout d;
  const std::vector<Eigen::Index> rows = vit_rows_per_image(config, images);
  std::vector<std::int64_t> patches;
  for (const Image& img : images) patches.push_back(patch_grid(img, config.patch).count());
  d.assignment = assign_images(patches, p);
  d.rows_of_rank.assign(static_cast<std::size_t>(p), 0);
  d.gathered_row.assign(images.size(), 0);
  d.output_row = row_offsets(rows);
  d.output_row.pop_back();
  for (int r = 0; r < p; ++r)
    for (int i : d.assignment.images_of_rank[static_cast<std::size_t>(r)])
      d.rows_of_rank[static_cast<std::size_t>(r)] += rows[static_cast<std::size_t>(i)];
  d.padded_rows = *std::max_element(d.rows_of_rank.begin(), d.rows_of_rank.end());
  for (int r = 0; r < p; ++r) {  // rank r's block of the gathered rows: its images, in assignment order
    Eigen::Index row = static_cast<Eigen::Index>(r) * d.padded_rows;
    for (int i : d.assignment.images_of_rank[static_cast<std::size_t>(r)]) {
      d.gathered_row[static_cast<std::size_t>(i)] = row;
      row += rows[static_cast<std::size_t>(i)];
    }
  }
  return d;
}

std::vector<CollectivePlan> data_parallel_plans(const DataParallelLayout& layout, const std::string& label,
                                                DataParallelOptions options) {
  std::vector<CollectivePlan> plans(static_cast<std::size_t>(layout.assignment.ranks()));
  if (layout.padded_rows == 0) return plans;  // no image anywhere: nobody gathers
  for (std::size_t r = 0; r < plans.size(); ++r) {
    if (options.tp_position_embedding && !layout.assignment.images_of_rank[r].empty())
      plans[r].push_back(std::string(ops::kAllReduceRankOrder) + " " + label + ".pos_embed");
    plans[r].push_back(std::string(ops::kAllGather) + " " + label + ".gather");
  }
  return plans;
}

EncodedImages encode_data(World& world, const ParallelVisionTransformer& whole, const std::vector<Image>& images,
                          const std::string& label, DataParallelOptions options) {
  require_whole(whole, "encode_data");
  const int p = world.size();
  const Eigen::Index H = whole.config().hidden;
  const DataParallelLayout layout = data_parallel_layout(whole.config(), images, p);
  const Eigen::Index L = layout.padded_rows;
  EncodedImages e;
  e.strategy = EncoderStrategy::Data;
  e.rows_per_image = vit_rows_per_image(whole.config(), images);
  e.assignment = layout.assignment;
  std::vector<std::int64_t> patches;
  for (const Image& img : images) patches.push_back(patch_grid(img, whole.config().patch).count());
  narrate_text(world, label + ": largest image first, each to the rank with the fewest patches so far: " +
                          e.assignment.describe(patches));
  // The plan every rank follows, checked before anything runs: a real rank cannot take a collective back.
  e.plans = data_parallel_plans(layout, label, options);
  check_collective_plans(e.plans);

  e.local = make_per_rank(p, [&](int r) -> Matrix {
    std::vector<Image> mine;
    for (int i : e.assignment.images_of_rank[static_cast<std::size_t>(r)]) mine.push_back(images[static_cast<std::size_t>(i)]);
    if (mine.empty()) return Matrix(0, H);
    return run_on_rank(world, r, [&](World& local) { return whole.forward(local, mine, label + ".encode")[0]; });
  });
  if (L == 0) {  // no image anywhere: every rank knows it, nobody calls the all-gather
    e.padded = e.gathered = e.features = PerRank<Matrix>(p, Matrix(0, H));
    return e;
  }
  e.padded = make_per_rank(p, [&](int r) -> Matrix {
    Matrix m = Matrix::Zero(L, H);  // vLLM pads with torch.empty (any bits); zeros keep dumps reproducible
    m.topRows(e.local[r].rows()) = e.local[r];
    return m;
  });
  for (int r = 0; r < p; ++r)
    if (e.local[r].rows() == 0)
      narrate_text(world, label + ": rank " + str(r) + " has no image and still joins the all-gather with " + str(L) +
                              " rows of padding: the collective completes only when every rank has called it");
  narrate(world, label + ": each rank's own images, zero-padded to L = " + str(L) + " rows (the longest rank)",
          e.padded);
  e.gathered = all_gather(world, e.padded, Axis::Rows, label + ".gather");
  e.features = make_per_rank(p, [&](int r) -> Matrix {
    Matrix out(std::accumulate(e.rows_per_image.begin(), e.rows_per_image.end(), Eigen::Index{0}), H);
    for (std::size_t i = 0; i < images.size(); ++i)
      out.middleRows(layout.output_row[i], e.rows_per_image[i]) =
          e.gathered[r].middleRows(layout.gathered_row[i], e.rows_per_image[i]);
    return out;
  });
  narrate(world, label + ": padding dropped, images back in their original order, on every rank", e.features);
  return e;
}

EncodedImages encode_images(World& world, EncoderStrategy strategy, const VitConfig& config, const VitWeights& weights,
                            const std::vector<Image>& images, const std::string& label, ReduceOrder order) {
  switch (strategy) {
    case EncoderStrategy::OneRank:
      return encode_one_rank(world, ParallelVisionTransformer::from_master(config, weights, 1, order), images, label);
    case EncoderStrategy::Data:
      return encode_data(world, ParallelVisionTransformer::from_master(config, weights, 1, order), images, label);
    case EncoderStrategy::Weights: {
      const std::string why = weights_strategy_obstacle(config, world.size());
      if (!why.empty())
        throw std::invalid_argument("encode_images: strategy B (weights) is impossible: " + why +
                                    "; use choose_encoder_strategy() to fall back to C (data)");
      return encode_weights(world, ParallelVisionTransformer::from_master(config, weights, world.size(), order),
                            images, label);
    }
  }
  throw std::invalid_argument("encode_images: unknown strategy");
}

}  // namespace atp::sim
