/// \file test_rotary.cpp
/// \brief Rotary embeddings in the bitwise contract (atp/rotary.hpp,
///        RotaryEmbedding): accuracy against float64 with stated bounds,
///        special values, and the rotation of heads by position.
#include "test_util.hpp"

#include "atp/rng.hpp"
#include "atp/rotary.hpp"
#include "atp/rotary_accuracy.hpp"
#include "atp/sim/layers/rotary_embedding.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>

using atp::Matrix;
using atp::test::contains;
using atp::test::error_of;

namespace {

std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }

}  // namespace

TEST_CASE("sincos and rope_inv_freq: accuracy against float64 over dense sweeps") {
  // The README quotes the numbers `atp-ch07-tensor-parallel-decoder --rope-accuracy` prints (4M samples);
  // here the same sweeps at 1M samples must stay within these bounds.
  for (const auto& row : atp::measure_rope_accuracy(std::uint64_t{1} << 20)) {
    CAPTURE(row.what);
    CAPTURE(row.domain);
    if (row.what == "sin" || row.what == "cos") {
      CHECK(row.ulp.samples == (std::uint64_t{1} << 20));
      CHECK(row.ulp.max_ulp < 1.0);
      CHECK(row.ulp.mean_ulp < 0.3);
    } else if (row.what == "rope_inv_freq") {
      CHECK(row.ulp.samples == 2 * (128 * 129 / 2));  // every pair of head_dim 2, 4, ..., 256 at two thetas
      CHECK(row.ulp.max_ulp < 1.5);
    } else {
      REQUIRE(row.what == "table cos/sin");
      // The angle is a float product: its rounding, ~pos 2^-24, dominates the table's error.
      if (contains(row.domain, "0..255")) CHECK(row.max_abs < 2e-5);
      else CHECK(row.max_abs < 4e-4);
    }
  }
}

TEST_CASE("log_pair: ln(theta) to well below a float's precision") {
  for (float x : {1.0001f, 1.5f, 2.0f, 3.14159265f, 100.0f, 10000.0f, 500000.0f, 1.0e6f, 3.0e38f, 0.3f}) {
    CAPTURE(x);
    const auto p = atp::detail::log_pair(x);
    const double got = static_cast<double>(p.hi) + static_cast<double>(p.lo);
    CHECK(std::fabs(got - std::log(static_cast<double>(x))) < 1e-9 * std::fmax(1.0, std::fabs(std::log(double(x)))));
  }
}

TEST_CASE("sincos special values and the domain edge") {
  float s = 1.0f, c = 0.0f;
  atp::sincos(0.0f, &s, &c);
  CHECK(bits(s) == bits(0.0f));
  CHECK(c == 1.0f);
  atp::sincos(-0.0f, &s, &c);
  CHECK(bits(s) == bits(-0.0f));
  CHECK(c == 1.0f);
  for (float bad : {NAN, INFINITY, -INFINITY, 0x1.0p+23f, -0x1.0p+23f}) {
    CAPTURE(bad);
    atp::sincos(bad, &s, &c);
    CHECK(std::isnan(s));
    CHECK(std::isnan(c));
  }
  // Odd and even: sin(-x) = -sin(x), cos(-x) = cos(x), bit for bit (the reduction is symmetric).
  for (float x : {0.3f, 1.0f, 2.5f, 100.25f, 12345.678f}) {
    float s1, c1, s2, c2;
    atp::sincos(x, &s1, &c1);
    atp::sincos(-x, &s2, &c2);
    CHECK(bits(s2) == bits(-s1));
    CHECK(bits(c2) == bits(c1));
  }
  CHECK(atp::rope_inv_freq(0, 8, 10000.0f) == 1.0f);
  CHECK(atp::rope_inv_freq(0, 128, 500000.0f) == 1.0f);
}

TEST_CASE("RotaryEmbedding: the cache is rope_cos_sin, position 0 is the identity, pairs per style") {
  const atp::sim::RotaryEmbedding rope(8, 16, 10000.0f, atp::RopeStyle::Interleaved);
  REQUIRE(rope.cos().rows() == 16);
  REQUIRE(rope.cos().cols() == 4);
  for (int pos = 0; pos < 16; ++pos)
    for (int i = 0; i < 4; ++i) {
      float c, s;
      atp::rope_cos_sin(pos, i, 8, 10000.0f, &c, &s);
      CHECK(bits(rope.cos()(pos, i)) == bits(c));
      CHECK(bits(rope.sin()(pos, i)) == bits(s));
    }
  const Matrix x = atp::random_matrix(3, 16, 7, 1);  // 3 tokens, 2 heads of 8
  atp::test::require_bitwise(Matrix(rope.apply(x, 0).row(0)), Matrix(x.row(0)), "position 0 rotates by 0");
  // Interleaved: element 2i and 2i+1 of each head rotate together, by the angle of pair i.
  const Matrix y = rope.apply(x, 5);  // row 1 is position 6
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 4; ++i) {
      float y0, y1;
      atp::rope_rotate_pair(x(1, h * 8 + 2 * i), x(1, h * 8 + 2 * i + 1), rope.cos()(6, i), rope.sin()(6, i), &y0,
                            &y1);
      CHECK(bits(y(1, h * 8 + 2 * i)) == bits(y0));
      CHECK(bits(y(1, h * 8 + 2 * i + 1)) == bits(y1));
    }
  // Halves (rotate_half): element i pairs with i + d/2.
  const atp::sim::RotaryEmbedding half(8, 16, 10000.0f, atp::RopeStyle::Halves);
  const Matrix z = half.apply(x, 2);
  float z0, z1;
  atp::rope_rotate_pair(x(0, 8 + 1), x(0, 8 + 5), half.cos()(2, 1), half.sin()(2, 1), &z0, &z1);
  CHECK(bits(z(0, 9)) == bits(z0));
  CHECK(bits(z(0, 13)) == bits(z1));
  // A rotation keeps each pair's length (to rounding).
  for (int j = 0; j < 16; j += 2) {
    const double before = std::hypot(double(x(2, j)), double(x(2, j + 1)));
    const double after = std::hypot(double(y(2, j)), double(y(2, j + 1)));
    CHECK(std::fabs(after - before) < 1e-6 * (1.0 + before));
  }
}

TEST_CASE("RotaryEmbedding refuses what it cannot rotate, naming the values") {
  CHECK(contains(error_of([] { atp::sim::RotaryEmbedding(7, 16, 10000.0f, atp::RopeStyle::Interleaved); }),
                 "head_dim 7 must be even"));
  CHECK(contains(error_of([] { atp::sim::RotaryEmbedding(8, 0, 10000.0f, atp::RopeStyle::Interleaved); }),
                 "max_positions 0"));
  CHECK(contains(error_of([] { atp::sim::RotaryEmbedding(8, 16, 1.0f, atp::RopeStyle::Interleaved); }),
                 "theta 1 must be > 1"));
  const atp::sim::RotaryEmbedding rope(8, 16, 10000.0f, atp::RopeStyle::Interleaved);
  CHECK(contains(error_of([&] { rope.apply(Matrix::Ones(2, 12), 0); }), "whole heads of head_dim 8"));
  CHECK(contains(error_of([&] { rope.apply(Matrix::Ones(2, 8), 15); }), "positions [15, 17) are outside"));
}
