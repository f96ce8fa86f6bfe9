/// \file test_numerics.cpp
/// \brief Accuracy, special values and canonical orders of numerics.hpp.
///
/// Accuracy: max ulp error of each function against a float64 std:: reference
/// over dense sweeps (bounds set just above what was measured, so a
/// regression shows). Special values: NaN, +-inf, +-0, thresholds,
/// subnormals, for every function. Orders: every reduction is checked against
/// an independently written loop, on data where the order changes the bits.
#include "atp/accuracy.hpp"
#include "atp/dense_reference.hpp"
#include "atp/numerics.hpp"
#include "atp/rng.hpp"
#include "atp/ulp.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

namespace {

using atp::float_bits;
using atp::Spacing;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr std::uint64_t kN = 1000000;  // samples per sweep: ~25 ms each in Release

// float64 references, each in a form that does not cancel.
double ref_exp(double x) { return std::exp(x); }
double ref_tanh(double x) { return std::tanh(x); }
double ref_erf(double x) { return std::erf(x); }
double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double ref_silu(double x) { return x / (1.0 + std::exp(-x)); }
double ref_gelu_tanh(double x) {
  const double u = std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x);
  return x / (1.0 + std::exp(-2.0 * u));  // == 0.5 x (1 + tanh u)
}
double ref_gelu_erf(double x) { return 0.5 * x * std::erfc(-x / std::numbers::sqrt2); }

template <class F, class R>
double max_ulp(const char* name, F f, R r, float lo, float hi, Spacing sp) {
  const atp::UlpStats s = atp::measure_ulp(f, r, lo, hi, kN, sp);
  MESSAGE(std::string(name) << " [" << lo << ", " << hi << "] " << (sp == Spacing::floats ? "floats" : "values")
                << ": max " << s.max_ulp << " ulp at " << s.worst_input << ", mean " << s.mean_ulp);
  return s.max_ulp;
}

#define ATP_FN(f) [](float x) { return atp::f(x); }

bool same_bits(float a, float b) { return float_bits(a) == float_bits(b); }

}  // namespace

// ---------------------------------------------------------------------------
// Accuracy
// ---------------------------------------------------------------------------

TEST_CASE("exp: max ulp error over dense sweeps") {
  CHECK(max_ulp("exp", ATP_FN(exp), ref_exp, -87.3f, 88.72f, Spacing::values) < 0.95);
  CHECK(max_ulp("exp", ATP_FN(exp), ref_exp, -87.3f, 88.72f, Spacing::floats) < 0.95);
  // Subnormal results: the ulp is 2^-149 there, so this is <1 subnormal step.
  CHECK(max_ulp("exp", ATP_FN(exp), ref_exp, -103.97f, -87.3f, Spacing::values) < 0.95);
}

TEST_CASE("tanh, erf: max ulp error over dense sweeps") {
  CHECK(max_ulp("tanh", ATP_FN(tanh), ref_tanh, -10.0f, 10.0f, Spacing::values) < 1.15);
  CHECK(max_ulp("tanh", ATP_FN(tanh), ref_tanh, -10.0f, 10.0f, Spacing::floats) < 1.15);
  CHECK(max_ulp("erf", ATP_FN(erf), ref_erf, -5.0f, 5.0f, Spacing::values) < 0.9);
  CHECK(max_ulp("erf", ATP_FN(erf), ref_erf, -5.0f, 5.0f, Spacing::floats) < 0.9);
}

TEST_CASE("sigmoid, silu: max ulp error over dense sweeps") {
  CHECK(max_ulp("sigmoid", ATP_FN(sigmoid), ref_sigmoid, -20.0f, 20.0f, Spacing::values) < 1.5);
  CHECK(max_ulp("sigmoid", ATP_FN(sigmoid), ref_sigmoid, -103.0f, 20.0f, Spacing::floats) < 1.5);
  CHECK(max_ulp("silu", ATP_FN(silu), ref_silu, -20.0f, 20.0f, Spacing::values) < 1.7);
  CHECK(max_ulp("silu", ATP_FN(silu), ref_silu, -80.0f, 80.0f, Spacing::floats) < 1.7);
}

TEST_CASE("gelu_tanh, gelu_erf: max ulp error over dense sweeps") {
  CHECK(max_ulp("gelu_tanh", ATP_FN(gelu_tanh), ref_gelu_tanh, -10.0f, 10.0f, Spacing::values) < 1.7);
  CHECK(max_ulp("gelu_tanh", ATP_FN(gelu_tanh), ref_gelu_tanh, -10.0f, 10.0f, Spacing::floats) < 1.7);
  CHECK(max_ulp("gelu_erf", ATP_FN(gelu_erf), ref_gelu_erf, -12.5f, 10.0f, Spacing::values) < 2.6);
  CHECK(max_ulp("gelu_erf", ATP_FN(gelu_erf), ref_gelu_erf, -12.5f, 10.0f, Spacing::floats) < 2.6);
}

TEST_CASE("the two GELU forms are close to each other") {
  // The tanh form approximates the erf form to ~5e-4 absolute (Hendrycks &
  // Gimpel); a bigger gap means one of them is wrong.
  float worst = 0.0f;
  for (int i = 0; i <= 12000; ++i) {
    const float x = -6.0f + 0.001f * static_cast<float>(i);
    worst = std::max(worst, std::fabs(atp::gelu_tanh(x) - atp::gelu_erf(x)));
  }
  CHECK(worst < 1e-3f);
  CHECK(worst > 1e-4f);  // and they are not the same function
}

// ---------------------------------------------------------------------------
// Special values
// ---------------------------------------------------------------------------

TEST_CASE("exp: special values and thresholds") {
  CHECK(std::isnan(atp::exp(kNaN)));
  CHECK(atp::exp(kInf) == kInf);
  CHECK(same_bits(atp::exp(-kInf), 0.0f));
  CHECK(atp::exp(0.0f) == 1.0f);
  CHECK(atp::exp(-0.0f) == 1.0f);
  CHECK(atp::exp(0x1p-140f) == 1.0f);  // subnormal input
  // Overflow: e^x < FLT_MAX (1 + 2^-25) up to 88.7228317, +inf from the next float.
  CHECK(std::isfinite(atp::exp(88.72283172607421875f)));
  CHECK(atp::exp(88.72283935546875f) == kInf);
  CHECK(atp::exp(100.0f) == kInf);
  // Underflow: e^x > 2^-150 rounds to the smallest subnormal, below it to +0.
  CHECK(atp::exp(-103.97f) == 0x1p-149f);
  CHECK(same_bits(atp::exp(-103.98f), 0.0f));
  CHECK(same_bits(atp::exp(-200.0f), 0.0f));
  // A subnormal result in the middle of the range, within 1 subnormal step.
  CHECK(atp::ulp_error(atp::exp(-95.5f), std::exp(-95.5)) < 1.0);
  CHECK(atp::exp(-95.5f) > 0.0f);
  CHECK(atp::exp(-95.5f) < std::numeric_limits<float>::min());
}

TEST_CASE("tanh: special values and saturation") {
  CHECK(std::isnan(atp::tanh(kNaN)));
  CHECK(atp::tanh(kInf) == 1.0f);
  CHECK(atp::tanh(-kInf) == -1.0f);
  CHECK(same_bits(atp::tanh(0.0f), 0.0f));
  CHECK(same_bits(atp::tanh(-0.0f), -0.0f));
  CHECK(atp::tanh(1e-30f) == 1e-30f);
  CHECK(atp::tanh(-0x1p-140f) == -0x1p-140f);  // subnormal
  // tanh(9) = 1 - 3.05e-8 rounds below 1 (the midpoint is 1 - 2^-25 = 1 - 2.98e-8);
  // from 9.0109 on, tanh rounds to 1.
  CHECK(atp::tanh(9.0f) == 0x1.fffffep-1f);
  CHECK(atp::tanh(9.1f) == 1.0f);
  CHECK(atp::tanh(-50.0f) == -1.0f);
  CHECK(atp::tanh(-2.0f) == -atp::tanh(2.0f));  // odd, exactly
}

TEST_CASE("erf: special values and saturation") {
  CHECK(std::isnan(atp::erf(kNaN)));
  CHECK(atp::erf(kInf) == 1.0f);
  CHECK(atp::erf(-kInf) == -1.0f);
  CHECK(same_bits(atp::erf(0.0f), 0.0f));
  CHECK(same_bits(atp::erf(-0.0f), -0.0f));
  // Subnormal x: erf(x) = 2x/sqrt(pi), correctly rounded on the subnormal grid.
  const float tiny = 0x1.234p-140f;
  CHECK(atp::ulp_error(atp::erf(tiny), 2.0 / std::sqrt(std::numbers::pi) * tiny) <= 0.5);
  // erfc(3.9) = 3.5e-8 > 2^-25: erf rounds below 1; beyond 3.92 it rounds to 1.
  CHECK(atp::erf(3.9f) == 0x1.fffffep-1f);
  CHECK(atp::erf(3.95f) == 1.0f);
  CHECK(atp::erf(-4.0f) == -1.0f);
  CHECK(atp::erf(-0.5f) == -atp::erf(0.5f));
  CHECK(atp::erf(-2.0f) == -atp::erf(2.0f));
}

TEST_CASE("sigmoid and silu: special values") {
  CHECK(std::isnan(atp::sigmoid(kNaN)));
  CHECK(atp::sigmoid(kInf) == 1.0f);
  CHECK(same_bits(atp::sigmoid(-kInf), 0.0f));
  CHECK(atp::sigmoid(0.0f) == 0.5f);
  CHECK(atp::sigmoid(-0.0f) == 0.5f);
  CHECK(atp::sigmoid(20.0f) == 1.0f);  // 1 - 2e-9 rounds to 1
  CHECK(atp::sigmoid(16.0f) < 1.0f);   // 1 - 1.1e-7 does not
  // Very negative x: sigmoid = e^x with full relative accuracy, into subnormals.
  CHECK(atp::ulp_error(atp::sigmoid(-80.0f), ref_sigmoid(-80.0)) < 1.0);
  CHECK(atp::ulp_error(atp::sigmoid(-100.0f), ref_sigmoid(-100.0)) < 1.0);
  CHECK(same_bits(atp::sigmoid(-104.0f), 0.0f));

  CHECK(std::isnan(atp::silu(kNaN)));
  CHECK(atp::silu(kInf) == kInf);
  CHECK(same_bits(atp::silu(-kInf), -0.0f));
  CHECK(same_bits(atp::silu(0.0f), 0.0f));
  CHECK(same_bits(atp::silu(-0.0f), -0.0f));
  CHECK(atp::silu(1e30f) == 1e30f);
  CHECK(atp::ulp_error(atp::silu(-50.0f), ref_silu(-50.0)) < 1.5);
  CHECK(same_bits(atp::silu(-200.0f), -0.0f));
}

TEST_CASE("gelu_tanh and gelu_erf: special values") {
  for (auto f : {+[](float x) { return atp::gelu_tanh(x); }, +[](float x) { return atp::gelu_erf(x); }}) {
    CHECK(std::isnan(f(kNaN)));
    CHECK(f(kInf) == kInf);
    CHECK(same_bits(f(-kInf), -0.0f));
    CHECK(same_bits(f(0.0f), 0.0f));
    CHECK(same_bits(f(-0.0f), -0.0f));
    CHECK(f(1e30f) == 1e30f);
    CHECK(f(std::numeric_limits<float>::max()) == std::numeric_limits<float>::max());
    CHECK(same_bits(f(-1e30f), -0.0f));
    CHECK(same_bits(f(-30.0f), -0.0f));
  }
  // The negative tail keeps relative accuracy (the 0.5 x (1 + tanh) form would
  // give exactly 0 or noise here).
  CHECK(atp::ulp_error(atp::gelu_tanh(-8.0f), ref_gelu_tanh(-8.0)) < 1.7);
  CHECK(atp::ulp_error(atp::gelu_erf(-8.0f), ref_gelu_erf(-8.0)) < 2.6);
}

// ---------------------------------------------------------------------------
// Determinism and canonical orders
// ---------------------------------------------------------------------------

TEST_CASE("elementwise functions are deterministic") {
  const atp::Matrix x = atp::random_matrix(1, 4096, 11, 0, 12.0f);
  std::vector<float> a(4096), b(4096);
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<float>& out = pass == 0 ? a : b;
    for (int i = 0; i < 4096; ++i) {
      const float v = x(0, i);
      out[static_cast<std::size_t>(i)] = atp::exp(v) + atp::tanh(v) + atp::erf(v) + atp::sigmoid(v) +
                                         atp::silu(v) + atp::gelu_tanh(v) + atp::gelu_erf(v);
    }
  }
  const atp::BitwiseReport r = atp::compare_bitwise(a.data(), b.data(), a.size());
  CHECK_MESSAGE(r.equal(), r.describe("elementwise"));
}

TEST_CASE("dot and dot_strided follow acc = fma(a[k], b[k], acc), k ascending") {
  const int n = 1000;
  const atp::Matrix a = atp::random_matrix(1, n, 3, 0), b = atp::random_matrix(1, n, 3, 1);
  float expect = 0.0f, naive = 0.0f;
  for (int k = 0; k < n; ++k) {
    expect = std::fma(a(0, k), b(0, k), expect);
    naive = naive + a(0, k) * b(0, k);
  }
  CHECK(same_bits(atp::dot(a.data(), b.data(), n), expect));
  CHECK_FALSE(same_bits(naive, expect));  // the data is such that fma matters
  CHECK(same_bits(atp::dot(a.data(), b.data(), 0), 0.0f));

  // A column of a (n, 3) row-major matrix has stride 3.
  const atp::Matrix m = atp::random_matrix(n, 3, 4, 0);
  float col = 0.0f;
  for (int k = 0; k < n; ++k) col = std::fma(m(k, 2), b(0, k), col);
  CHECK(same_bits(atp::dot_strided(m.data() + 2, 3, b.data(), 1, n), col));
}

namespace {

// Independent rendering of the 32-lane order: explicit lane lists, then the
// tree as repeated halving of a std::vector.
float lane32_expected(const std::vector<float>& x) {
  std::vector<float> lanes(32, 0.0f);
  for (std::size_t l = 0; l < 32; ++l) {
    float acc = 0.0f;
    for (std::size_t i = l; i < x.size(); i += 32) acc = acc + x[i];
    lanes[l] = acc;
  }
  while (lanes.size() > 1) {
    const std::size_t half = lanes.size() / 2;
    std::vector<float> next(half);
    for (std::size_t l = 0; l < half; ++l) next[l] = lanes[l] + lanes[l + half];
    lanes = next;
  }
  return lanes[0];
}

std::vector<float> wide_range_row(int n, std::uint64_t seed) {
  // Magnitudes spread over 2^0..2^19 so that the order of additions shows.
  std::vector<float> x(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    x[static_cast<std::size_t>(i)] = std::ldexp(atp::counter_uniform(seed, 0, static_cast<std::uint64_t>(i)), i % 20);
  return x;
}

}  // namespace

TEST_CASE("row_sum_lane32 and row_sum_sq_dev_lane32 follow the 32-lane order") {
  for (int n : {1, 31, 32, 33, 100, 1000}) {
    CAPTURE(n);
    const std::vector<float> x = wide_range_row(n, 21);
    CHECK(same_bits(atp::row_sum_lane32(x.data(), n), lane32_expected(x)));
    // Squared deviations: lane acc = fma(d, d, acc).
    const float mean = 0.25f;
    std::vector<float> lanes(32, 0.0f);
    for (int i = 0; i < n; ++i) {
      const float d = x[static_cast<std::size_t>(i)] - mean;
      lanes[static_cast<std::size_t>(i % 32)] = std::fma(d, d, lanes[static_cast<std::size_t>(i % 32)]);
    }
    float expect_sq = 0.0f;
    {
      std::vector<float> v = lanes;
      while (v.size() > 1) {
        const std::size_t half = v.size() / 2;
        for (std::size_t l = 0; l < half; ++l) v[l] = v[l] + v[l + half];
        v.resize(half);
      }
      expect_sq = v[0];
    }
    CHECK(same_bits(atp::row_sum_sq_dev_lane32(x.data(), n, mean), expect_sq));
    if (n >= 100) {
      // The lane order really differs from a plain left-to-right sum here.
      float naive = 0.0f;
      for (float v : x) naive = naive + v;
      CHECK_FALSE(same_bits(naive, atp::row_sum_lane32(x.data(), n)));
    }
  }
  // Hand-computed: 33 elements, x[0] = 1, x[32] = 2^-24, x[16] = 2^-24, rest 0.
  // Lane 0 holds 1 + 2^-24 = 1 (tie to even); the tree adds lane 16 to it:
  // 1 + 2^-24 = 1 again. Left to right would give the same 1; but with
  // x[16] = x[32] = 2^-23 (exact steps) lane order gives 1 + 2^-23 + 2^-23.
  std::vector<float> h(33, 0.0f);
  h[0] = 1.0f;
  h[16] = 0x1p-24f;
  h[32] = 0x1p-24f;
  CHECK(atp::row_sum_lane32(h.data(), 33) == 1.0f);
  // Lanes 16 and 0 see the two small values together if they are in the same
  // lane: x[0] = 1, x[1] = x[33] = 2^-24 -> lane 1 = 2^-23, tree adds it to 1.
  std::vector<float> g(34, 0.0f);
  g[0] = 1.0f;
  g[1] = 0x1p-24f;
  g[33] = 0x1p-24f;
  CHECK(atp::row_sum_lane32(g.data(), 34) == 1.0f + 0x1p-23f);
  float seq = 0.0f;
  for (float v : g) seq = seq + v;
  CHECK(seq == 1.0f);  // left to right loses both halves
}

TEST_CASE("lane_tree_sum is the shuffle-down tree") {
  float v[32];
  for (int l = 0; l < 32; ++l) v[l] = std::ldexp(1.0f, -(l % 26));
  // Expected by hand-unrolled levels.
  float w[32];
  for (int l = 0; l < 32; ++l) w[l] = v[l];
  for (int l = 0; l < 16; ++l) w[l] = w[l] + w[l + 16];
  for (int l = 0; l < 8; ++l) w[l] = w[l] + w[l + 8];
  for (int l = 0; l < 4; ++l) w[l] = w[l] + w[l + 4];
  for (int l = 0; l < 2; ++l) w[l] = w[l] + w[l + 2];
  w[0] = w[0] + w[1];
  CHECK(same_bits(atp::lane_tree_sum(v), w[0]));
}

TEST_CASE("row_max: NaN propagates, signed zeros are order-free") {
  const float a[] = {1.0f, kNaN, 3.0f};
  CHECK(std::isnan(atp::row_max(a, 3)));
  const float b[] = {kNaN, 1.0f};
  CHECK(std::isnan(atp::row_max(b, 2)));
  const float z1[] = {-0.0f, 0.0f}, z2[] = {0.0f, -0.0f}, z3[] = {-0.0f, -0.0f};
  CHECK(same_bits(atp::row_max(z1, 2), 0.0f));
  CHECK(same_bits(atp::row_max(z2, 2), 0.0f));
  CHECK(same_bits(atp::row_max(z3, 2), -0.0f));
  const float ninf[] = {-kInf, -kInf};
  CHECK(atp::row_max(ninf, 2) == -kInf);
  CHECK(atp::row_max(ninf, 0) == -kInf);
  const float c[] = {-2.0f, 5.0f, kInf, 4.0f};
  CHECK(atp::row_max(c, 4) == kInf);
  CHECK(atp::max_nan(2.0f, -1.0f) == 2.0f);
  CHECK(atp::max_nan(-1.0f, 2.0f) == 2.0f);
}

// ---------------------------------------------------------------------------
// Row operations against the float64 reference
// ---------------------------------------------------------------------------

TEST_CASE("softmax_row vs float64 reference, and sums to 1") {
  for (int n : {1, 7, 32, 100, 1000}) {
    CAPTURE(n);
    const atp::Matrix x = atp::random_matrix(3, n, 5, 0, 8.0f);
    atp::Matrix y(3, n);
    for (int r = 0; r < 3; ++r) atp::softmax_row(x.data() + r * n, y.data() + r * n, n);
    // exp is < 1 ulp, x - m rounds at |x - m| <= 16 (relative error of e up to
    // 16 * 2^-24), the sum adds ~log2(n) + n/32 roundings: 4e-6 covers n <= 1000.
    CHECK(atp::max_rel_error(y, atp::softmax_rows_ref(atp::to_double(x)), 1e-30) < 4e-6);
    for (int r = 0; r < 3; ++r) {
      double s = 0.0;
      for (int i = 0; i < n; ++i) s += y(r, i);
      CHECK(std::fabs(s - 1.0) < 2e-6);
    }
  }
  const float single[] = {42.0f};
  float out1[1];
  atp::softmax_row(single, out1, 1);
  CHECK(out1[0] == 1.0f);
  const float same[] = {0.3f, 0.3f, 0.3f};
  float out3[3];
  atp::softmax_row(same, out3, 3);
  CHECK(out3[2] == 1.0f / 3.0f);
}

TEST_CASE("softmax_row: masked rows") {
  // Fully masked row (all -inf): zeros (docs/numerics.md, "NaN"; test_nan_policy.cpp has the rest).
  const float all[] = {-kInf, -kInf, -kInf};
  float y[3];
  atp::softmax_row(all, y, 3);
  for (float v : y) CHECK(same_bits(v, 0.0f));
  // Partly masked: masked entries are +0, the rest is the softmax of the rest.
  const float part[] = {1.0f, -kInf, 1.0f};
  atp::softmax_row(part, y, 3);
  CHECK(y[0] == 0.5f);
  CHECK(same_bits(y[1], 0.0f));
  CHECK(y[2] == 0.5f);
  // In place.
  float inplace[] = {0.0f, 0.0f};
  atp::softmax_row(inplace, inplace, 2);
  CHECK(inplace[0] == 0.5f);
  // +inf or NaN anywhere: NaN everywhere.
  const float pinf[] = {1.0f, kInf};
  float y2[2];
  atp::softmax_row(pinf, y2, 2);
  CHECK(std::isnan(y2[0]));
  CHECK(std::isnan(y2[1]));
}

TEST_CASE("layernorm_row and rmsnorm_row vs float64 reference") {
  for (int n : {1, 32, 100, 1000}) {
    CAPTURE(n);
    atp::Matrix x = atp::random_matrix(4, n, 6, 0, 3.0f);
    x.array() += 2.0f;  // a nonzero mean, so the mean subtraction matters
    const atp::Matrix gamma = atp::random_matrix(1, n, 6, 1), beta = atp::random_matrix(1, n, 6, 2);
    const float eps = 1e-5f;
    atp::Matrix y(4, n), z(4, n);
    for (int r = 0; r < 4; ++r) {
      atp::layernorm_row(x.data() + r * n, gamma.data(), beta.data(), eps, y.data() + r * n, n);
      atp::rmsnorm_row(x.data() + r * n, gamma.data(), eps, z.data() + r * n, n);
    }
    // Outputs are O(1); mean and variance carry ~(n/32 + 5) float roundings
    // relative, rstd and the epilogue a few more: 1e-5 absolute covers n <= 1000.
    CHECK(atp::max_abs_error(y, atp::layernorm_rows_ref(atp::to_double(x), atp::to_double(gamma),
                                                        atp::to_double(beta), eps)) < 1e-5);
    CHECK(atp::max_abs_error(z, atp::rmsnorm_rows_ref(atp::to_double(x), atp::to_double(gamma), eps)) < 1e-5);
  }
}

TEST_CASE("norm helpers are the documented expressions") {
  CHECK(same_bits(atp::layernorm_rstd(7.0f, 3, 1e-5f), 1.0f / std::sqrt(7.0f / 3.0f + 1e-5f)));
  CHECK(same_bits(atp::rmsnorm_rstd(7.0f, 3, 1e-6f), 1.0f / std::sqrt(7.0f / 3.0f + 1e-6f)));
  CHECK(same_bits(atp::layernorm_epilogue(0.7f, 0.1f, 1.3f, 0.9f, -0.2f),
                  std::fma((0.7f - 0.1f) * 1.3f, 0.9f, -0.2f)));
  CHECK(same_bits(atp::rmsnorm_epilogue(0.7f, 1.3f, 0.9f), (0.7f * 1.3f) * 0.9f));
  CHECK(same_bits(atp::softmax_epilogue(0.7f, 1.3f), 0.7f / 1.3f));
}

TEST_CASE("ulp helpers") {
  CHECK(atp::ulp_distance(1.0f, std::nextafter(1.0f, 2.0f)) == 1u);
  CHECK(atp::ulp_distance(0.0f, -0.0f) == 0u);
  CHECK(atp::ulp_distance(0x1p-149f, -0x1p-149f) == 2u);
  CHECK(atp::ulp_distance(kNaN, kNaN) == 0u);
  CHECK(atp::ulp_distance(kNaN, 1.0f) == std::numeric_limits<std::uint32_t>::max());
  CHECK(atp::ulp_error(1.0f, 1.0) == 0.0);
  CHECK(atp::ulp_error(1.0f, 1.0 + 0x1p-24) == doctest::Approx(0.5));
  CHECK(atp::ulp_error(kInf, 1e39) == 0.0);
  const float a[] = {1.0f, 2.0f, 3.0f}, b[] = {1.0f, std::nextafter(2.0f, 3.0f), 3.5f};
  const atp::BitwiseReport r = atp::compare_bitwise(a, b, 3);
  CHECK(r.differing == 2);
  CHECK(r.first_index == 1);
  CHECK(r.first_a == 2.0f);
  CHECK(r.describe("t").find("2 of 3 elements differ; first at 1") != std::string::npos);
  CHECK_FALSE(atp::compare_bitwise(atp::Matrix(2, 3), atp::Matrix(3, 2)).equal());
  CHECK(atp::compare_bitwise(atp::Matrix(2, 3), atp::Matrix(3, 2)).describe("m").find("(2, 3)") !=
        std::string::npos);
  const atp::Matrix m = atp::random_matrix(2, 3, 1, 1);
  CHECK(atp::compare_bitwise(m, m).equal());
}
