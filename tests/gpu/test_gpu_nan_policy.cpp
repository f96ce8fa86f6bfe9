/// \file test_gpu_nan_policy.cpp
/// \brief The NaN policy of docs/numerics.md on the GPU: the shared functions
///        and the row kernels return exactly the CPU's bits for NaN inputs
///        (the one quiet NaN 0x7fc00000, never the GPU's own 0x7fffffff) and
///        for fully masked softmax rows (+0). Needs a GPU; skips without one.
///        The CPU half is tests/test_nan_policy.cpp.
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/kernels.hpp"
#include "atp/cuda/ops.hpp"
#include "atp/numerics.hpp"
#include "atp/rng.hpp"
#include "gpu_test_util.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// NaNs of every origin plus the values around them that must stay as they are.
std::vector<float> special_inputs() {
  std::vector<float> x;
  for (std::uint32_t u : {0x7fc00000u, 0xffc00000u, 0x7fffffffu, 0xffffffffu, 0x7fc12345u, 0x7f800001u, 0xff812345u,
                          0x7f800000u, 0xff800000u, 0x00000000u, 0x80000000u, 0x3f800000u, 0xc2c80000u})
    x.push_back(std::bit_cast<float>(u));
  return x;
}

}  // namespace

TEST_CASE("the GPU's own NaN differs from the CPU's, which is why the policy exists") {
  if (atp::test::skip_without_gpu()) return;
  const std::vector<float> a = {kInf}, b = {-kInf};
  atp::cuda::DeviceBuffer<float> da = atp::cuda::DeviceBuffer<float>::from_host(a),
                                 db = atp::cuda::DeviceBuffer<float>::from_host(b), dc(1);
  atp::cuda::launch_add(da.data(), db.data(), dc.data(), 1, nullptr);
  const float gpu_nan = dc.to_host()[0];
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(std::bit_cast<std::uint32_t>(gpu_nan)));
  MESSAGE("this GPU's inf + -inf = " << buf);  // docs/numerics.md section 5 quotes it
  CHECK(gpu_nan != gpu_nan);
}

TEST_CASE("elementwise kernels return the CPU's bits for NaN, infinite and zero inputs") {
  if (atp::test::skip_without_gpu()) return;
  using atp::cuda::Elementwise;
  const std::vector<float> x = special_inputs();
  const struct {
    Elementwise fn;
    float (*host)(float);
  } cases[] = {{Elementwise::Exp, atp::exp},           {Elementwise::Tanh, atp::tanh},
               {Elementwise::Erf, atp::erf},           {Elementwise::Sigmoid, atp::sigmoid},
               {Elementwise::GeluTanh, atp::gelu_tanh}, {Elementwise::GeluErf, atp::gelu_erf},
               {Elementwise::Silu, atp::silu}};
  for (const auto& c : cases) {
    atp::cuda::DeviceBuffer<float> dx = atp::cuda::DeviceBuffer<float>::from_host(x), dy(x.size());
    atp::cuda::launch_elementwise(c.fn, dx.data(), dy.data(), x.size(), nullptr);
    const std::vector<float> got = dy.to_host();
    std::vector<float> want(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) want[i] = c.host(x[i]);
    atp::test::require_bitwise(got.data(), want.data(), x.size(),
                               std::string("NaN policy ") + atp::cuda::elementwise_name(c.fn));
  }
}

TEST_CASE("row kernels: fully masked softmax rows are +0, NaN and infinite rows the CPU's quiet NaN") {
  if (atp::test::skip_without_gpu()) return;
  for (int n : {1, 5, 33, 100}) {
    // Row 0 fully masked, row 1 with a NaN (x86's default NaN), row 2 with +inf,
    // row 3 with -inf and the GPU's NaN, row 4 ordinary with one masked element.
    atp::Matrix x = atp::random_matrix(5, n, 31, 0, 2.0f);
    for (int j = 0; j < n; ++j) x(0, j) = -kInf;
    x(1, n / 2) = std::bit_cast<float>(0xffc00000u);
    x(2, 0) = kInf;
    x(3, n - 1) = -kInf;
    x(3, 0) = std::bit_cast<float>(0x7fffffffu);
    x(4, n - 1) = -kInf;
    const atp::Matrix gamma = atp::random_matrix(1, n, 31, 1), beta = atp::random_matrix(1, n, 31, 2);
    atp::Matrix soft(5, n), ln(5, n), rms(5, n);
    for (int r = 0; r < 5; ++r) {
      atp::softmax_row(x.row(r).data(), soft.row(r).data(), n);
      atp::layernorm_row(x.row(r).data(), gamma.data(), beta.data(), 1e-5f, ln.row(r).data(), n);
      atp::rmsnorm_row(x.row(r).data(), gamma.data(), 1e-6f, rms.row(r).data(), n);
    }
    const auto dx = atp::cuda::to_device(x), dg = atp::cuda::to_device(gamma), db = atp::cuda::to_device(beta);
    const std::string at = " n=" + std::to_string(n);
    atp::test::require_bitwise(atp::cuda::to_host(atp::cuda::softmax_rows(dx)), soft, "softmax" + at);
    atp::test::require_bitwise(atp::cuda::to_host(atp::cuda::layernorm_rows(dx, dg, db, 1e-5f)), ln, "layernorm" + at);
    atp::test::require_bitwise(atp::cuda::to_host(atp::cuda::rmsnorm_rows(dx, dg, 1e-6f)), rms, "rmsnorm" + at);
  }
}
