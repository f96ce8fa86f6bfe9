/// \file test_ch08_building_blocks.cpp
/// \brief Chapter 8's pieces: patchify and the stride = kernel convolution as
///        one matmul, image sizes and their errors, vLLM's image-to-rank
///        assignment, LayerNorm rows, attention over packed images, the
///        collective-plan check, busy/idle and the lockstep timeline.
///
/// Expected values are written out by hand from the rules (vLLM's docstring
/// example for the assignment, pixel positions for patchify, byte models of
/// collectives.hpp), never produced by the code under test.
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/matmul_cpu.hpp"
#include "atp/numerics.hpp"
#include "atp/rng.hpp"
#include "atp/sim/busy_idle.hpp"
#include "atp/sim/collective_plan.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/layers/layer_norm.hpp"
#include "atp/sim/layers/segmented_attention.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/vision/image_assignment.hpp"
#include "atp/vit_image.hpp"

#include <string>
#include <vector>

using atp::Matrix;
using namespace atp::sim;
using atp::test::contains;
using atp::test::error_of;
using atp::test::require_bitwise;

TEST_CASE("patchify puts pixel (c, i P + a, j P + b) at row i gw + j, column (c P + a) P + b") {
  const atp::Image img = atp::random_image(2, 4, 6, 7, 1);  // C=2, 4x6 pixels, P=2: a 2x3 grid
  const Matrix p = atp::patchify(img, 2);
  REQUIRE(p.rows() == 6);
  REQUIRE(p.cols() == 8);
  // patch (1, 2), channel 1, a = 0, b = 1: pixel row 1*4 + 1*2 + 0 = 6, column 2*2 + 1 = 5
  CHECK(p(1 * 3 + 2, (1 * 2 + 0) * 2 + 1) == img.pixels(6, 5));
  // patch (0, 1), channel 0, a = 1, b = 0: pixel row 1, column 2
  CHECK(p(1, 2) == img.pixels(1, 2));
}

TEST_CASE("the stride = kernel convolution equals patches W^T bit for bit, with and without bias") {
  const atp::Image img = atp::random_image(3, 12, 8, 11, 2);  // a 3x2 grid of 4x4 patches, not square
  const Matrix W = atp::random_matrix(10, 48, 11, 3, 0.25f);
  const Matrix b = atp::random_matrix(1, 10, 11, 4, 0.3f);
  const Matrix patches = atp::patchify(img, 4);
  require_bitwise(atp::conv2d_patch_embedding_direct(img, W, nullptr, 4), atp::linear(patches, W, nullptr), "no bias");
  require_bitwise(atp::conv2d_patch_embedding_direct(img, W, &b, 4), atp::linear(patches, W, &b), "bias");
  // A different order of the same sum does round differently: the match above is not luck.
  Matrix reversed(patches.rows(), W.rows());
  for (Eigen::Index t = 0; t < patches.rows(); ++t)
    for (Eigen::Index o = 0; o < W.rows(); ++o) {
      float acc = 0.0f;
      for (Eigen::Index k = patches.cols() - 1; k >= 0; --k) acc = atp::fma(patches(t, k), W(o, k), acc);
      reversed(t, o) = acc;
    }
  CHECK_FALSE(atp::compare_bitwise(reversed, atp::linear(patches, W, nullptr)).equal());
}

TEST_CASE("image sizes: parsing, patch multiples and their errors") {
  const auto sizes = atp::parse_image_sizes("32x32,16x24");
  REQUIRE(sizes.size() == 2);
  CHECK(sizes[1] == std::pair<int, int>{16, 24});
  CHECK(contains(error_of([] { atp::parse_image_sizes("32x"); }), "'32x'"));
  CHECK(contains(error_of([] { atp::parse_image_sizes("32x32,0x8"); }), "HEIGHTxWIDTH"));
  CHECK(contains(error_of([] { atp::parse_image_sizes("16*16"); }), "'16*16'"));
  const atp::Image odd = atp::random_image(3, 10, 8, 1, 1);
  CHECK(contains(error_of([&] { atp::patch_grid(odd, 4); }), "image 10x8 is not a whole number of 4x4 patches"));
  CHECK(atp::patch_grid(odd, 2).count() == 20);
}

TEST_CASE("assign_images follows vLLM's get_load_balance_assignment (its docstring example)") {
  // vision.py's comments: sizes [1000, 100, 200, 50] on 2 GPUs -> GPU_0 = [0], GPU_1 = [2, 1, 3].
  const ImageAssignment a = assign_images({1000, 100, 200, 50}, 2);
  CHECK(a.images_of_rank[0] == std::vector<int>{0});
  CHECK(a.images_of_rank[1] == std::vector<int>{2, 1, 3});
  CHECK(a.load == std::vector<std::int64_t>{1000, 350});
  CHECK(a.order() == std::vector<int>{0, 2, 1, 3});
  // Ties: equal sizes keep their index order; equal loads go to the lowest rank.
  const ImageAssignment t = assign_images({5, 5, 5}, 2);
  CHECK(t.images_of_rank[0] == std::vector<int>{0, 2});
  CHECK(t.images_of_rank[1] == std::vector<int>{1});
  // Fewer images than ranks: the others get nothing.
  const ImageAssignment few = assign_images({7}, 3);
  CHECK(few.images_of_rank[1].empty());
  CHECK(few.load == std::vector<std::int64_t>{7, 0, 0});
  CHECK(contains(error_of([] { assign_images({3, -1}, 2); }), "image 1 has size -1"));
  CHECK(contains(error_of([] { assign_images({3}, 0); }), "p = 0"));
}

TEST_CASE("layernorm_rows is atp::layernorm_row on every row, and refuses bad shapes") {
  const Matrix x = atp::random_matrix(3, 40, 5, 1, 2.0f), g = atp::random_matrix(1, 40, 5, 2), b = atp::random_matrix(1, 40, 5, 3);
  const Matrix y = layernorm_rows(x, g, b, 1e-5f);
  for (Eigen::Index r = 0; r < 3; ++r) {
    Matrix want(1, 40);
    atp::layernorm_row(x.row(r).data(), g.data(), b.data(), 1e-5f, want.data(), 40);
    require_bitwise(Matrix(y.row(r)), want, "row " + std::to_string(r));
  }
  CHECK(contains(error_of([&] { layernorm_rows(x, Matrix(1, 39), b, 1e-5f); }), "gamma and beta must be (1, 40)"));
}

TEST_CASE("attention over packed images equals each image's attention alone, bit for bit") {
  const int H = 24, nH = 4;
  const auto w = atp::random_attention_weights(H, nH, nH, H / nH, 3, true);
  const std::vector<Eigen::Index> seg = {5, 1, 3};
  const Matrix x = atp::random_matrix(9, H, 3, 9);
  for (int p : {1, 2, 4}) {
    const auto layer = ParallelAttention::from_masters(w, nH, nH, p);
    World world(p);
    const PerRank<Matrix> packed = attention_forward_segments(world, layer, replicate(x, p), seg, "attn");
    CHECK(world.trace().count(ops::kAllReduceRankOrder) == 1);  // one all-reduce for the whole batch
    Eigen::Index at = 0;
    for (Eigen::Index n : seg) {
      World alone(p);
      const PerRank<Matrix> one = layer.forward(alone, replicate(Matrix(x.middleRows(at, n)), p), "attn");
      for (int r = 0; r < p; ++r) require_bitwise(Matrix(packed[r].middleRows(at, n)), one[r], "segment at " + std::to_string(at));
      at += n;
    }
  }
  const auto layer = ParallelAttention::from_masters(w, nH, nH, 1);
  World world(1);
  CHECK(contains(error_of([&] { attention_forward_segments(world, layer, replicate(x, 1), {5, 3}, "a"); }),
                 "add up to 8 rows but x has 9"));
  CHECK(contains(error_of([&] { attention_forward_segments(world, layer, replicate(x, 1), {9, 0}, "a"); }),
                 "sequence 1 has 0 rows"));
}

TEST_CASE("collective plans: equal sequences pass, a skipped call is reported as a hang") {
  CHECK(collective_plan_mismatch({{"all_gather g"}, {"all_gather g"}}).empty());
  const std::string why = collective_plan_mismatch({{"all_reduce pos", "all_gather g"}, {"all_gather g"}});
  CHECK(contains(why, "collective call 1 differs"));
  CHECK(contains(why, "rank 0 issues 'all_reduce pos'"));
  CHECK(contains(why, "rank 1 issues 'all_gather g'"));
  CHECK(contains(why, "hang"));
  const std::string shorter = collective_plan_mismatch({{"a"}, {"a"}, {"a", "b"}});
  CHECK(contains(shorter, "call 2 differs"));
  CHECK(contains(shorter, "rank 0 issues nothing"));
  CHECK_THROWS_AS(check_collective_plans({{"a"}, {}}), CollectiveMismatch);
}

TEST_CASE("busy_idle: idle = the busiest rank's flops minus one's own; bytes as collectives.hpp models them") {
  World world(3);
  record_matmul(world, 0, 4, 5, 6, "enc.x");  // 2*4*5*6 = 240 flops
  record_matmul(world, 1, 2, 5, 6, "enc.x");  // 120
  broadcast(world, PerRank<Matrix>({Matrix::Ones(2, 5), Matrix(0, 0), Matrix(0, 0)}), 0, "enc.bcast");
  record_matmul(world, 2, 1, 1, 1, "other");  // outside the prefix
  const auto rows = busy_idle(world.trace(), "enc");
  CHECK(rows[0].flops == 240);
  CHECK(rows[1].idle_flops == 120);
  CHECK(rows[2].idle_flops == 240);
  // ring broadcast from root 0: ranks 0 and 1 send 40 bytes, rank 2 (root - 1) sends nothing
  CHECK(rows[0].bytes_sent == 40);
  CHECK(rows[2].bytes_sent == 0);
  CHECK(rows[2].bytes_received == 40);
  const Imbalance imb = imbalance(rows);
  CHECK(imb.max_over_mean == doctest::Approx(2.0));                 // 240 / (360 / 3)
  CHECK(imb.idle_fraction == doctest::Approx(360.0 / (3 * 240.0)));  // (0 + 120 + 240) / (3 * 240)
  const auto tl = lockstep_timeline(world.trace(), "enc");
  REQUIRE(tl.size() == 2);
  CHECK_FALSE(tl[0].collective);
  CHECK(tl[0].flops == std::vector<std::int64_t>{240, 120, 0});
  CHECK(tl[1].collective);
  CHECK(tl[1].bytes == std::vector<std::int64_t>{40, 80, 40});
}
