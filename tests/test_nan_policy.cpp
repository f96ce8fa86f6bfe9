/// \file test_nan_policy.cpp
/// \brief The NaN policy of docs/numerics.md on the CPU: every NaN a shared
///        function returns is atp::quiet_nan() (0x7fc00000), whatever NaN
///        came in, and a fully masked softmax row is zeros.
///
/// Inputs are NaNs of every kind the hardware makes or passes on: x86's
/// default NaN 0xffc00000 (what `inf - inf` gives there), the GPU's
/// 0x7fffffff, payloads, a signalling NaN, and NaNs made at run time by
/// invalid operations. The GPU half is tests/gpu/test_gpu_nan_policy.cpp.
#include "atp/activations.hpp"
#include "atp/numerics.hpp"
#include "atp/ulp.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace {

constexpr std::uint32_t kQuietNan = 0x7fc00000u;
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> nan_inputs() {
  std::vector<float> out;
  for (std::uint32_t u : {0x7fc00000u, 0xffc00000u, 0x7fffffffu, 0xffffffffu, 0x7fc12345u, 0x7f800001u, 0xff812345u})
    out.push_back(std::bit_cast<float>(u));
  volatile float inf = kInf, zero = 0.0f;  // volatile: made at run time, not folded by the compiler
  out.push_back(inf - inf);
  out.push_back(zero * inf);
  out.push_back(zero / zero);
  return out;
}

std::string hex(float x) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(atp::float_bits(x)));
  return buf;
}

}  // namespace

TEST_CASE("quiet_nan is 0x7fc00000 and canonical_nan maps every NaN to it, and nothing else") {
  CHECK(atp::float_bits(atp::quiet_nan()) == kQuietNan);
  // Why the policy exists: this machine's own NaN (x86: 0xffc00000; NVIDIA GPUs: 0x7fffffff).
  volatile float inf = kInf;
  MESSAGE("this CPU's inf - inf = " << hex(inf - inf));
  for (float x : nan_inputs()) {
    CAPTURE(hex(x));
    CHECK(atp::float_bits(atp::canonical_nan(x)) == kQuietNan);
  }
  for (float x : {0.0f, -0.0f, 1.5f, -kInf, kInf, 0x1p-149f, std::numeric_limits<float>::max()})
    CHECK(atp::float_bits(atp::canonical_nan(x)) == atp::float_bits(x));
}

TEST_CASE("every elementary function and activation returns the one quiet NaN for any NaN input") {
  using Fn = float (*)(float);
  const struct {
    const char* name;
    Fn fn;
  } fns[] = {{"exp", atp::exp},
             {"tanh", atp::tanh},
             {"erf", atp::erf},
             {"sigmoid", atp::sigmoid},
             {"silu", atp::silu},
             {"gelu_tanh", atp::gelu_tanh},
             {"gelu_erf", atp::gelu_erf},
             {"gelu(tanh)", [](float x) { return atp::gelu(atp::GeluForm::Tanh, x); }},
             {"gelu(erf)", [](float x) { return atp::gelu(atp::GeluForm::Erf, x); }},
             {"swiglu(x, 2)", [](float x) { return atp::swiglu(x, 2.0f); }},
             {"swiglu(1, x)", [](float x) { return atp::swiglu(1.0f, x); }}};
  for (const auto& f : fns)
    for (float x : nan_inputs()) {
      CAPTURE(f.name);
      CAPTURE(hex(x));
      CHECK(atp::float_bits(f.fn(x)) == kQuietNan);
    }
  // An invalid operation inside: silu(-inf) * 0 is a NaN made in the product.
  CHECK(atp::float_bits(atp::swiglu(kInf, 0.0f)) == kQuietNan);
}

TEST_CASE("max_nan and row_max give the one quiet NaN, whichever argument or element is NaN") {
  for (float n : nan_inputs()) {
    CAPTURE(hex(n));
    CHECK(atp::float_bits(atp::max_nan(n, 1.0f)) == kQuietNan);
    CHECK(atp::float_bits(atp::max_nan(-1.0f, n)) == kQuietNan);
    const float row[] = {2.0f, n, 3.0f};
    CHECK(atp::float_bits(atp::row_max(row, 3)) == kQuietNan);
  }
}

TEST_CASE("softmax_row: fully masked rows are +0, rows with NaN or +inf are the one quiet NaN") {
  for (int n : {1, 3, 33, 100}) {
    CAPTURE(n);
    std::vector<float> x(static_cast<std::size_t>(n), -kInf), y(static_cast<std::size_t>(n), 7.0f);
    atp::softmax_row(x.data(), y.data(), n);
    for (float v : y) CHECK(atp::float_bits(v) == 0u);  // +0, not -0
    atp::softmax_row(x.data(), x.data(), n);             // in place too
    for (float v : x) CHECK(atp::float_bits(v) == 0u);
  }
  CHECK(atp::softmax_exp(-kInf, -kInf) == 0.0f);
  CHECK(atp::float_bits(atp::softmax_epilogue(0.0f, 0.0f)) == 0u);
  CHECK(atp::softmax_epilogue(1.0f, 4.0f) == 0.25f);

  for (float bad : {kInf, std::bit_cast<float>(0xffc00000u), std::bit_cast<float>(0x7fc12345u)}) {
    CAPTURE(hex(bad));
    std::vector<float> x = {0.5f, -kInf, bad, 1.0f}, y(4);
    atp::softmax_row(x.data(), y.data(), 4);
    for (float v : y) CHECK(atp::float_bits(v) == kQuietNan);
  }
}

TEST_CASE("layernorm_row and rmsnorm_row: a NaN or infinite element makes the whole row the one quiet NaN") {
  const std::vector<float> gamma(5, 1.25f), beta(5, -0.5f);
  for (float bad : {kInf, -kInf, std::bit_cast<float>(0xffc00000u), std::bit_cast<float>(0x7f800001u)}) {
    CAPTURE(hex(bad));
    const std::vector<float> x = {0.25f, bad, -1.0f, 2.0f, 0.75f};
    std::vector<float> y(5), z(5);
    atp::layernorm_row(x.data(), gamma.data(), beta.data(), 1e-5f, y.data(), 5);
    atp::rmsnorm_row(x.data(), gamma.data(), 1e-6f, z.data(), 5);
    for (float v : y) CHECK(atp::float_bits(v) == kQuietNan);
    for (int i = 0; i < 5; ++i) {
      CAPTURE(i);
      // RMSNorm of +-inf: inf * (1 / inf) = inf * 0 = NaN for the inf element, 0 for the others.
      const bool nan_expected = bad != bad || i == 1;
      if (nan_expected)
        CHECK(atp::float_bits(z[static_cast<std::size_t>(i)]) == kQuietNan);
      else
        CHECK(z[static_cast<std::size_t>(i)] == 0.0f);
    }
  }
}
