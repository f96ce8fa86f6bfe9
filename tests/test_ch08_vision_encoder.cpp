/// \file test_ch08_vision_encoder.cpp
/// \brief Chapter 8's encoder and strategies: the dense encoder against the
///        float64 ViT, the bitwise facts (A and C equal the dense encoder on
///        every rank, B does not, except at p = 1), the trace of each strategy
///        (who computes, what moves), a rank with no image, the replayed hang,
///        and the fallback when heads do not divide.
///
/// Sizes are small (H = 16, 2 blocks, images of 4, 12, 1 and 6 patches) so
/// every case runs in milliseconds. Expected flops and bytes are derived here
/// from the byte models of collectives.hpp and from single-image runs.
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/dense_reference.hpp"
#include "atp/dense_vit_reference.hpp"
#include "atp/rng.hpp"
#include "atp/sim/busy_idle.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/vision/encoder_strategies.hpp"
#include "atp/sim/vision/vision_transformer.hpp"
#include "atp/vit_weights.hpp"

#include <sstream>
#include <string>
#include <vector>

using atp::Matrix;
using namespace atp::sim;
using atp::test::contains;
using atp::test::error_of;
using atp::test::require_bitwise;

namespace {

atp::VitConfig small_config() {
  atp::VitConfig c;
  c.channels = 3;
  c.patch = 2;
  c.hidden = 16;
  c.heads = 4;
  c.intermediate = 32;
  c.layers = 2;
  c.max_grid = 4;
  return c;
}

/// Images of 4, 12, 1 and 6 patches (2x2 pixels each).
std::vector<atp::Image> small_images(const atp::VitConfig& c) {
  std::vector<atp::Image> v;
  const int sizes[][2] = {{4, 4}, {6, 8}, {2, 2}, {4, 6}};
  std::uint64_t stream = 9000;
  for (const auto& s : sizes) v.push_back(atp::random_image(c.channels, s[0], s[1], 5, stream++));
  return v;
}

Matrix dense(const atp::VitConfig& c, const atp::VitWeights& w, const std::vector<atp::Image>& images) {
  World one(1);
  return ParallelVisionTransformer::from_master(c, w, 1).forward(one, images, "dense")[0];
}

std::int64_t total_flops(const World& w) {
  std::int64_t f = 0;
  for (int r = 0; r < w.size(); ++r) f += w.trace().flops(r, kMatmulOp);
  return f;
}

}  // namespace

TEST_CASE("the dense encoder matches the float64 ViT, with and without class token and patch bias") {
  for (int variant = 0; variant < 2; ++variant) {
    atp::VitConfig c = small_config();
    c.class_token = variant == 0;
    c.patch_bias = variant == 1;
    const atp::VitWeights w = atp::random_vit_weights(c, 5);
    const auto images = small_images(c);
    const Matrix d = dense(c, w, images);
    Eigen::Index at = 0;
    for (const auto& img : images) {
      const atp::MatrixD ref = atp::vit_ref(c, w, img).out;
      // fp32 through 2 blocks of LayerNorm, attention and MLP with outputs of order one: measured 1e-6.
      CHECK(atp::max_abs_error(Matrix(d.middleRows(at, ref.rows())), ref) < 2e-5);
      at += ref.rows();
    }
    CHECK(at == d.rows());
  }
}

TEST_CASE("an image's features do not depend on the batch it was encoded in (bitwise)") {
  const atp::VitConfig c = small_config();
  const atp::VitWeights w = atp::random_vit_weights(c, 5);
  const auto images = small_images(c);
  const Matrix all = dense(c, w, images);
  Eigen::Index at = 0;
  for (const auto& img : images) {
    const Matrix alone = dense(c, w, {img});
    require_bitwise(Matrix(all.middleRows(at, alone.rows())), alone, "image rows");
    at += alone.rows();
  }
}

TEST_CASE("A and C equal the dense encoder bit for bit on every rank; B does not (except at p = 1)") {
  const atp::VitConfig c = small_config();
  const atp::VitWeights w = atp::random_vit_weights(c, 5);
  const auto images = small_images(c);
  const Matrix d = dense(c, w, images);
  for (int p : {1, 2, 3, 4}) {
    INFO("p = " << p);
    for (auto s : {EncoderStrategy::OneRank, EncoderStrategy::Data}) {
      World world(p);
      const EncodedImages e = encode_images(world, s, c, w, images, "vit");
      for (int r = 0; r < p; ++r) require_bitwise(e.features[r], d, std::string(to_string(s)) + " rank " + std::to_string(r));
    }
    if (p == 3) continue;  // 4 heads: B cannot split them over 3 ranks
    World world(p);
    const EncodedImages b = encode_images(world, EncoderStrategy::Weights, c, w, images, "vit");
    for (int r = 1; r < p; ++r) require_bitwise(b.features[r], b.features[0], "B is the same on every rank");
    const atp::BitwiseReport rep = atp::compare_bitwise(b.features[0], d);
    if (p == 1) {
      CHECK(rep.equal());  // one rank: nothing is split, every chain is the dense one
    } else {
      CHECK(rep.differing > 0);  // the row-parallel sums round differently...
      CHECK(static_cast<double>((b.features[0] - d).cwiseAbs().maxCoeff()) < 1e-5);  // ...by a few fp32 ulps of O(1) values
    }
  }
}

TEST_CASE("strategy A: rank 0 does all the work and broadcasts; the others are idle") {
  const atp::VitConfig c = small_config();
  const atp::VitWeights w = atp::random_vit_weights(c, 5);
  const auto images = small_images(c);
  World one(1);
  ParallelVisionTransformer::from_master(c, w, 1).forward(one, images, "d");
  World world(4);
  const EncodedImages e = encode_images(world, EncoderStrategy::OneRank, c, w, images, "vit");
  const auto rows = busy_idle(world.trace());
  CHECK(rows[0].flops == total_flops(one));
  for (int r = 1; r < 4; ++r) {
    CHECK(rows[static_cast<std::size_t>(r)].flops == 0);
    CHECK(rows[static_cast<std::size_t>(r)].idle_flops == rows[0].flops);
  }
  CHECK(world.trace().count(ops::kBroadcast) == 1);
  const std::int64_t bytes = e.features[0].size() * 4;  // (R, H) fp32
  CHECK(rows[1].bytes_received == bytes);
  CHECK(rows[0].bytes_received == 0);
}

TEST_CASE("strategy B: 2 all-reduces per block; each rank does 1/p of the split work plus the replicated embedding") {
  const atp::VitConfig c = small_config();
  const atp::VitWeights w = atp::random_vit_weights(c, 5);
  const auto images = small_images(c);
  World one(1);
  ParallelVisionTransformer::from_master(c, w, 1).forward(one, images, "d");
  const std::int64_t embed = one.trace().flops(0, kMatmulOp) - [&] {
    std::int64_t f = 0;
    for (const auto& ev : one.trace().events(kMatmulOp)) f += ev.label.find(".patch_embed") == std::string::npos ? ev.flops : 0;
    return f;
  }();
  World world(4);
  const EncodedImages e = encode_images(world, EncoderStrategy::Weights, c, w, images, "vit");
  CHECK(world.trace().count(ops::kAllReduceRankOrder) == 2 * c.layers);
  for (int r = 0; r < 4; ++r) CHECK(world.trace().flops(r, kMatmulOp) == (one.trace().flops(0, kMatmulOp) - embed) / 4 + embed);
  CHECK(e.plans[0].size() == static_cast<std::size_t>(2 * c.layers));
}

TEST_CASE("strategy C: vLLM's assignment, padding to the longest rank, one all-gather, order restored") {
  const atp::VitConfig c = small_config();
  const atp::VitWeights w = atp::random_vit_weights(c, 5);
  const auto images = small_images(c);  // patches 4, 12, 1, 6 -> rows 5, 13, 2, 7
  World world(2);
  const EncodedImages e = encode_images(world, EncoderStrategy::Data, c, w, images, "vit");
  // largest first: 12 -> rank 0; 6 -> rank 1; 4 -> rank 1 (6 < 12); 1 -> rank 1 (10 < 12)
  CHECK(e.assignment.images_of_rank[0] == std::vector<int>{1});
  CHECK(e.assignment.images_of_rank[1] == std::vector<int>{3, 0, 2});
  CHECK(e.local[0].rows() == 13);
  CHECK(e.local[1].rows() == 14);
  REQUIRE(e.padded[0].rows() == 14);  // L = the longest rank's ROWS (14), not its patches (12)
  CHECK(e.padded[0].row(13).isZero());
  CHECK(e.gathered[0].rows() == 28);
  CHECK(world.trace().count(ops::kAllGather) == 1);
  CHECK(world.trace().bytes_sent(0) == 14 * 16 * 4);  // ring all-gather: (p - 1) blocks of (L, H)
  // Each rank's flops are exactly those of its own images encoded alone.
  for (int r = 0; r < 2; ++r) {
    std::vector<atp::Image> mine;
    for (int i : e.assignment.images_of_rank[static_cast<std::size_t>(r)]) mine.push_back(images[static_cast<std::size_t>(i)]);
    World alone(1);
    ParallelVisionTransformer::from_master(c, w, 1).forward(alone, mine, "d");
    CHECK(world.trace().flops(r, kMatmulOp) == alone.trace().flops(0, kMatmulOp));
  }
}

TEST_CASE("a rank with no image still joins the all-gather; a collective left inside the DP encoder would hang") {
  const atp::VitConfig c = small_config();
  const atp::VitWeights w = atp::random_vit_weights(c, 5);
  const std::vector<atp::Image> one = {small_images(c)[1]};
  World world(3);
  std::ostringstream told;
  world.narrate_to(told);
  const auto whole = ParallelVisionTransformer::from_master(c, w, 1);
  const EncodedImages e = encode_data(world, whole, one, "vit");
  CHECK(e.local[1].rows() == 0);
  CHECK(e.padded[2].isZero());
  for (int r = 0; r < 3; ++r) CHECK(e.plans[static_cast<std::size_t>(r)] == CollectivePlan{"all_gather vit.gather"});
  CHECK(contains(told.str(), "rank 2 has no image and still joins the all-gather"));
  require_bitwise(e.features[2], dense(c, w, one), "rank 2 receives the image's features");
  World bad(3);
  try {
    encode_data(bad, whole, one, "vit", {.tp_position_embedding = true});
    FAIL("the mismatched plan was not caught");
  } catch (const CollectiveMismatch& m) {
    CHECK(contains(m.what(), "rank 1 issues 'all_gather vit.gather'"));
    CHECK(contains(m.what(), "hang"));
  }
  CHECK(bad.trace().events().empty());  // refused before any rank computed or sent anything
  // No image at all: nobody calls the all-gather, and every rank knows it.
  World none(3);
  const EncodedImages z = encode_data(none, whole, {}, "vit");
  CHECK(z.features[0].rows() == 0);
  CHECK(none.trace().events().empty());
}

TEST_CASE("heads not divisible by p: B is impossible and falls back to C with a message, as vLLM does") {
  const atp::VitConfig c = small_config();  // 4 heads, MLP 32
  const StrategyChoice ok = choose_encoder_strategy(EncoderStrategy::Weights, c, 4);
  CHECK(ok.used == EncoderStrategy::Weights);
  CHECK(ok.message.empty());
  const StrategyChoice fb = choose_encoder_strategy(EncoderStrategy::Weights, c, 3);
  CHECK(fb.used == EncoderStrategy::Data);
  CHECK(contains(fb.message, "4 attention heads are not divisible by tp 3"));
  CHECK(contains(fb.message, "falling back to strategy C"));
  CHECK(choose_encoder_strategy(EncoderStrategy::OneRank, c, 3).used == EncoderStrategy::OneRank);
  atp::VitConfig wide = c;
  wide.intermediate = 30;
  CHECK(contains(weights_strategy_obstacle(wide, 4), "MLP width 30 is not divisible by tp 4"));
  const atp::VitWeights w = atp::random_vit_weights(c, 5);
  World world(3);
  CHECK(contains(error_of([&] { encode_images(world, EncoderStrategy::Weights, c, w, small_images(c), "vit"); }),
                 "use choose_encoder_strategy()"));
  CHECK(parse_encoder_strategy("B") == EncoderStrategy::Weights);
  CHECK(contains(error_of([] { parse_encoder_strategy("tensor"); }), "valid: one-rank (A), weights (B), data (C)"));
}

TEST_CASE("images that do not fit the encoder are refused with their index and size") {
  const atp::VitConfig c = small_config();  // P = 2, max_grid 4 (8x8 pixels)
  const atp::VitWeights w = atp::random_vit_weights(c, 5);
  const auto enc = ParallelVisionTransformer::from_master(c, w, 1);
  World world(1);
  const atp::Image big = atp::random_image(3, 10, 4, 1, 1);
  CHECK(contains(error_of([&] { enc.forward(world, {big}, "v"); }), "image 0 (10x4) is a 5x2 grid"));
  const atp::Image gray = atp::random_image(1, 4, 4, 1, 1);
  CHECK(contains(error_of([&] { enc.forward(world, {big, gray}, "v"); }), "image 0 (10x4)"));
  CHECK(contains(error_of([&] { enc.forward(world, {gray}, "v"); }), "image 0 (4x4) has 1 channels; the encoder expects 3"));
  atp::VitConfig bad = c;
  bad.heads = 5;
  CHECK(contains(error_of([&] { bad.validate(); }), "hidden 16 is not divisible by heads 5"));
}
