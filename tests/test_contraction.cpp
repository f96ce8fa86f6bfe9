/// \file test_contraction.cpp
/// \brief Proves the compiler flags of the bitwise contract are in effect:
/// `a*b + c` is two roundings (no implicit fma), and fast-math is off.
///
/// Values pass through `volatile` so the compiler cannot fold them at
/// compile time (constant folding is exact and would hide a contraction).
/// If -ffp-contract=off were missing, g++ with -march=native would emit an
/// fma for `a*b + c` and these checks would fail.
#include "atp/numerics.hpp"
#include "atp/rng.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace {

std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }

/// What a*b + c must give without contraction: a*b rounded to float, then the
/// sum rounded. In double a*b is exact (24 + 24 bits) and so is the sum of two
/// floats of similar magnitude, so each float cast is one IEEE rounding.
float separately_rounded(float a, float b, float c) {
  const auto prod = static_cast<float>(static_cast<double>(a) * static_cast<double>(b));
  return static_cast<float>(static_cast<double>(prod) + static_cast<double>(c));
}

/// The plain expression the flags govern; volatile keeps it a run-time computation.
float plain_mul_add(float a, float b, float c) {
  volatile float va = a, vb = b, vc = c;
  const float x = va, y = vb, z = vc;
  return x * y + z;
}

}  // namespace

TEST_CASE("a*b+c rounds twice (no implicit fma): hand-picked case") {
  // a = b = 1 + 2^-12: a*b = 1 + 2^-11 + 2^-24 exactly; the float product
  // rounds the 2^-24 away (a tie, to even), so adding c = -(1 + 2^-11) gives 0,
  // while a fused multiply-add keeps it.
  const float a = 1.0f + 0x1p-12f, b = a, c = -(1.0f + 0x1p-11f);
  const float plain = plain_mul_add(a, b, c);
  const float fused = atp::fma(a, b, c);
  CHECK(bits(plain) == bits(0.0f));
  CHECK(fused == 0x1p-24f);
  CHECK(bits(plain) == bits(separately_rounded(a, b, c)));
}

TEST_CASE("a*b+c rounds twice (no implicit fma): random cases") {
  // Among random inputs of similar magnitude, find cases where fma and the
  // separately rounded result differ, and check the plain expression gives the
  // separately rounded one every time.
  int differing = 0;
  for (std::uint64_t i = 0; i < 4000; ++i) {
    const float a = atp::counter_uniform(7, 0, i), b = atp::counter_uniform(7, 1, i);
    const float c = atp::counter_uniform(7, 2, i);
    const float expect = separately_rounded(a, b, c);
    REQUIRE(bits(plain_mul_add(a, b, c)) == bits(expect));
    if (bits(atp::fma(a, b, c)) != bits(expect)) ++differing;
  }
  // About a third of random cases differ; a handful is enough to prove the point.
  CHECK(differing > 100);
}

TEST_CASE("fast-math is off: NaN compares unequal and isnan works") {
#ifdef __FAST_MATH__
  FAIL("__FAST_MATH__ is defined: the build uses -ffast-math, which breaks the bitwise contract");
#endif
  volatile float vn = std::numeric_limits<float>::quiet_NaN();
  const float n = vn;
  CHECK(n != n);
  CHECK_FALSE(n == n);
  CHECK(std::isnan(n));
  // Signed zeros survive (fast-math may treat -0 as +0 in x + 0).
  volatile float vz = -0.0f;
  const float z = vz;
  CHECK(bits(z + 0.0f) == bits(0.0f));
  CHECK(bits(z * 1.0f) == bits(-0.0f));
}
