/// \file test_ch09_projector.cpp
/// \brief Chapter 9's projectors and merge: the 2 x 2 regrouping by hand,
///        LLaVA's projector and Qwen2-VL's patch merger against their
///        float64 references (tolerances) and, at p = 1, against the dense
///        fp32 layers (bitwise); one all-reduce each, the same bits on every
///        rank; class tokens dropped for LLaVA; the merge's placement and its errors.
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/dense_reference.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/projector_weights.hpp"
#include "atp/rng.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/layers/layer_norm.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/vision/multimodal_merge.hpp"
#include "atp/sim/vision/image_features.hpp"
#include "atp/sim/vision/projector.hpp"

#include <string>
#include <vector>

using atp::Matrix;
using namespace atp::sim;
using atp::test::contains;
using atp::test::error_of;
using atp::test::require_bitwise;

TEST_CASE("spatial_merge puts each 2x2 block of patches side by side, row-major inside the block") {
  Matrix x(8, 1);  // a 2x4 grid, patch k holds the value k
  for (int k = 0; k < 8; ++k) x(k, 0) = static_cast<float>(k);
  const Matrix m = atp::spatial_merge(x, {2, 4}, 2);
  REQUIRE(m.rows() == 2);
  REQUIRE(m.cols() == 4);
  CHECK(m(0, 0) == 0.0f);  // block (0, 0): patches (0,0), (0,1), (1,0), (1,1) = 0, 1, 4, 5
  CHECK(m(0, 1) == 1.0f);
  CHECK(m(0, 2) == 4.0f);
  CHECK(m(0, 3) == 5.0f);
  CHECK(m(1, 0) == 2.0f);  // block (0, 1): 2, 3, 6, 7
  CHECK(m(1, 3) == 7.0f);
  CHECK(contains(error_of([&] { atp::spatial_merge(x, {1, 8}, 2); }), "a 1x8 grid"));
}

TEST_CASE("LLaVA's projector: bitwise the dense layers at p = 1, within tolerance at p = 2 and 4, one all-reduce") {
  const int Hv = 12, D = 16, N = 7;
  const atp::ProjectorWeights w = atp::random_llava_projector(Hv, D, 4);
  const Matrix x = atp::random_matrix(N, Hv, 4, 1);
  const Matrix dense = atp::linear(gelu(atp::GeluForm::Erf, atp::linear(x, w.W1, &w.b1)), w.W2, &w.b2);
  const atp::MatrixD ref = atp::llava_projector_ref(atp::to_double(x), w);
  for (int p : {1, 2, 4}) {
    INFO("p = " << p);
    World world(p);
    const PerRank<Matrix> y = ParallelLlavaProjector::from_master(w, p).forward(world, replicate(x, p), "proj");
    CHECK(world.trace().count(ops::kAllReduceRankOrder) == 1);
    for (int r = 1; r < p; ++r) require_bitwise(y[r], y[0], "every rank holds the same projected features");
    if (p == 1) require_bitwise(y[0], dense, "p = 1 is the dense projector");
    else CHECK(atp::compare_bitwise(y[0], dense).differing > 0);  // linear_2's split sums round differently
    // fp32 through two layers of order-one values: measured below 1e-6.
    CHECK(atp::max_abs_error(y[0], ref) < 5e-6);
  }
  CHECK(contains(error_of([&] { ParallelLlavaProjector::from_master(w, 3); }),
                 "middle width 16 is not divisible by tp 3"));
}

TEST_CASE("Qwen2-VL's patch merger: norm, 2x2 merge, column, GELU, row; p = 1, 2, 3, 4") {
  const int Hv = 6, D = 10;
  const atp::ProjectorWeights w = atp::random_patch_merger(Hv, D, 2, 6);
  const std::vector<atp::PatchGrid> grids = {{2, 4}, {4, 2}};
  const Matrix x = atp::random_matrix(16, Hv, 6, 2, 1.5f);
  atp::MatrixD ref(4, D);
  ref.topRows(2) = atp::patch_merger_ref(atp::to_double(Matrix(x.topRows(8))), grids[0], 2, w, 1e-6);
  ref.bottomRows(2) = atp::patch_merger_ref(atp::to_double(Matrix(x.bottomRows(8))), grids[1], 2, w, 1e-6);
  for (int p : {1, 2, 3, 4}) {  // the middle width is 4 * 6 = 24: every p here divides it
    INFO("p = " << p);
    World world(p);
    const PerRank<Matrix> y = ParallelPatchMerger::from_master(w, 2, 1e-6f, p).forward(world, replicate(x, p), grids, "merger");
    REQUIRE(y[0].rows() == 4);
    CHECK(world.trace().count(ops::kAllReduceRankOrder) == 1);
    for (int r = 1; r < p; ++r) require_bitwise(y[r], y[0], "every rank");
    CHECK(atp::max_abs_error(y[0], ref) < 5e-6);
  }
  World world(1);
  CHECK(contains(error_of([&] {
          ParallelPatchMerger::from_master(w, 2, 1e-6f, 1).forward(world, replicate(x, 1), {{3, 4}, {2, 2}}, "m");
        }),
        "a 3x4 grid"));
}

TEST_CASE("select_patch_features drops each image's class-token row (vLLM's \"default\" strategy)") {
  const Matrix x = atp::random_matrix(7, 3, 1, 1);  // images of 3 and 4 rows, each starting with its class token
  const Matrix s = select_patch_features(x, {3, 4}, true);
  REQUIRE(s.rows() == 5);
  require_bitwise(Matrix(s.topRows(2)), Matrix(x.middleRows(1, 2)), "image 0's patches");
  require_bitwise(Matrix(s.bottomRows(3)), Matrix(x.bottomRows(3)), "image 1's patches");
  require_bitwise(select_patch_features(x, {3, 4}, false), x, "no class token: unchanged");
  CHECK(contains(error_of([&] { select_patch_features(x, {3, 3}, true); }), "add up to 6"));
}

TEST_CASE("the merge overwrites the placeholder rows in order, on every rank alike, and refuses a count mismatch") {
  const std::int64_t img = 99;
  const std::vector<std::int64_t> ids = {1, img, img, 5, img, 7};
  const Matrix text = atp::random_matrix(6, 4, 2, 1), features = atp::random_matrix(3, 4, 2, 2);
  const Matrix m = merge_multimodal_embeddings(text, ids, img, features);
  require_bitwise(Matrix(m.row(0)), Matrix(text.row(0)), "text row 0");
  require_bitwise(Matrix(m.row(1)), Matrix(features.row(0)), "placeholder 1 <- feature 0");
  require_bitwise(Matrix(m.row(2)), Matrix(features.row(1)), "placeholder 2 <- feature 1");
  require_bitwise(Matrix(m.row(3)), Matrix(text.row(3)), "text row 3");
  require_bitwise(Matrix(m.row(4)), Matrix(features.row(2)), "placeholder 4 <- feature 2");
  const PerRank<Matrix> per = merge_multimodal_embeddings(replicate(text, 3), ids, img, replicate(features, 3));
  for (int r = 0; r < 3; ++r) require_bitwise(per[r], m, "rank " + std::to_string(r));
  CHECK(contains(error_of([&] { merge_multimodal_embeddings(text, ids, img, Matrix(features.topRows(2))); }),
                 "the prompt has 3 image placeholder tokens (id 99) but the images give 2 feature rows"));
  CHECK(contains(error_of([&] { merge_multimodal_embeddings(text, {1, img, 3, 4, 5, 6}, img, features); }),
                 "has 1 image placeholder tokens"));
  CHECK(contains(error_of([&] { merge_multimodal_embeddings(text, ids, img, atp::random_matrix(3, 5, 1, 1)); }),
                 "do not have the text embeddings' width 4"));
}

namespace {

VisionTower small_tower(ProjectorKind kind) {
  VisionTower t;
  t.encoder.patch = 2;
  t.encoder.hidden = 16;
  t.encoder.heads = 4;
  t.encoder.intermediate = 32;
  t.encoder.layers = 1;
  t.encoder.max_grid = 4;
  t.encoder.class_token = kind == ProjectorKind::Llava;
  t.encoder_weights = atp::random_vit_weights(t.encoder, 8);
  t.projector = kind;
  t.projector_weights = kind == ProjectorKind::Llava ? atp::random_llava_projector(16, 8, 8)
                                                     : atp::random_patch_merger(16, 8, 2, 8);
  return t;
}

}  // namespace

TEST_CASE("image features: A and C give the same bits for every projector; B does not; token counts") {
  const std::vector<atp::Image> images = {atp::random_image(3, 8, 4, 9, 1), atp::random_image(3, 4, 4, 9, 2)};
  for (const auto kind : {ProjectorKind::Llava, ProjectorKind::PatchMerger}) {
    INFO(to_string(kind));
    const VisionTower tower = small_tower(kind);
    const auto counts = image_token_counts(tower, images);
    CHECK(counts == (kind == ProjectorKind::Llava ? std::vector<Eigen::Index>{8, 4} : std::vector<Eigen::Index>{2, 1}));
    World wa(2), wb(2), wc(2);
    const ImageFeatures a = image_features(wa, EncoderStrategy::OneRank, tower, images, "vlm");
    const ImageFeatures b = image_features(wb, EncoderStrategy::Weights, tower, images, "vlm");
    const ImageFeatures c = image_features(wc, EncoderStrategy::Data, tower, images, "vlm");
    REQUIRE(a.features[0].rows() == counts[0] + counts[1]);
    for (int r = 0; r < 2; ++r) require_bitwise(c.features[r], a.features[0], "C rank " + std::to_string(r));
    CHECK(atp::compare_bitwise(b.features[0], a.features[0]).differing > 0);
    CHECK(static_cast<double>((b.features[0] - a.features[0]).cwiseAbs().maxCoeff()) < 1e-5);
    CHECK(wa.trace().count(ops::kAllReduceRankOrder) == 1);  // the projector's; A's encoder ran alone on rank 0
  }
  VisionTower bad = small_tower(ProjectorKind::PatchMerger);
  bad.encoder.class_token = true;
  bad.encoder_weights = atp::random_vit_weights(bad.encoder, 8);
  World w(1);
  CHECK(contains(error_of([&] { image_features(w, EncoderStrategy::OneRank, bad, images, "vlm"); }),
                 "class token has a row that is not on the grid"));
  CHECK(contains(error_of([&] {
          image_token_counts(small_tower(ProjectorKind::PatchMerger), {atp::random_image(3, 6, 4, 1, 1)});
        }),
        "image 0 is a 3x2 grid"));
  CHECK(contains(error_of([] { parse_projector_kind("mlp"); }), "valid: llava"));
}
