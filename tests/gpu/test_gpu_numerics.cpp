/// \file test_gpu_numerics.cpp
/// \brief The shared functions of atp/numerics.hpp give the same bits on the
///        GPU as on the CPU, over a dense sweep; CUDA's own expf/tanhf/erff
///        do not (reported, the contrast of chapter 0).
///
/// Inputs: every 4093rd float bit pattern (all signs and binades, subnormals,
/// infinities; NaNs skipped, since NaN payloads are not part of the
/// contract) plus 2^20 evenly spaced points over each function's busy range.
/// Needs a GPU; skips without one.
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/kernels.hpp"
#include "atp/numerics.hpp"
#include "gpu_test_util.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

using atp::cuda::DeviceBuffer;
using atp::cuda::Elementwise;

std::vector<float> sweep_inputs(float lo, float hi) {
  std::vector<float> x;
  for (std::uint64_t u = 0; u <= 0xffffffffull; u += 4093) {
    const float f = std::bit_cast<float>(static_cast<std::uint32_t>(u));
    if (!std::isnan(f)) x.push_back(f);
  }
  x.push_back(std::bit_cast<float>(0x7f800000u));  // +inf
  x.push_back(std::bit_cast<float>(0xff800000u));  // -inf
  x.push_back(-0.0f);
  constexpr int kDense = 1 << 20;
  for (int i = 0; i <= kDense; ++i)
    x.push_back(lo + (hi - lo) * (static_cast<float>(i) / static_cast<float>(kDense)));
  return x;
}

std::vector<float> on_device(Elementwise fn, const std::vector<float>& x) {
  DeviceBuffer<float> dx = DeviceBuffer<float>::from_host(x);
  DeviceBuffer<float> dy(x.size());
  atp::cuda::launch_elementwise(fn, dx.data(), dy.data(), x.size(), nullptr);
  return dy.to_host();
}

template <class F>
void check_same_bits(Elementwise fn, F host_fn, float lo, float hi) {
  const std::vector<float> x = sweep_inputs(lo, hi);
  const std::vector<float> got = on_device(fn, x);
  std::vector<float> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = host_fn(x[i]);
  atp::test::require_bitwise(got.data(), want.data(), x.size(),
                             std::string("device vs host ") + atp::cuda::elementwise_name(fn));
}

// How far CUDA's library function is from a host function: count and max ulp.
template <class F>
void report_contrast(Elementwise fn, F host_fn, const char* host_name, float lo, float hi) {
  std::vector<float> x;
  constexpr int kDense = 1 << 22;
  for (int i = 0; i <= kDense; ++i) x.push_back(lo + (hi - lo) * (static_cast<float>(i) / kDense));
  const std::vector<float> got = on_device(fn, x);
  std::vector<float> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = host_fn(x[i]);
  const atp::BitwiseReport r = atp::compare_bitwise(got.data(), want.data(), x.size());
  MESSAGE(atp::cuda::elementwise_name(fn) << " (CUDA) vs " << host_name << " over [" << lo << ", " << hi
                                          << "]: " << r.differing << " of " << r.count
                                          << " results differ, max " << r.max_ulp << " ulp");
}

}  // namespace

TEST_CASE("device atp::exp, tanh, erf, sigmoid equal the host bit for bit") {
  if (atp::test::skip_without_gpu()) return;
  check_same_bits(Elementwise::Exp, [](float v) { return atp::exp(v); }, -104.0f, 89.0f);
  check_same_bits(Elementwise::Tanh, [](float v) { return atp::tanh(v); }, -10.0f, 10.0f);
  check_same_bits(Elementwise::Erf, [](float v) { return atp::erf(v); }, -5.0f, 5.0f);
  check_same_bits(Elementwise::Sigmoid, [](float v) { return atp::sigmoid(v); }, -110.0f, 30.0f);
}

TEST_CASE("device GELU (tanh and erf) and SiLU equal the host bit for bit") {
  if (atp::test::skip_without_gpu()) return;
  check_same_bits(Elementwise::GeluTanh, [](float v) { return atp::gelu_tanh(v); }, -12.0f, 12.0f);
  check_same_bits(Elementwise::GeluErf, [](float v) { return atp::gelu_erf(v); }, -15.0f, 12.0f);
  check_same_bits(Elementwise::Silu, [](float v) { return atp::silu(v); }, -110.0f, 30.0f);
}

TEST_CASE("CUDA's own expf, tanhf, erff differ from the shared functions and from glibc (report)") {
  if (atp::test::skip_without_gpu()) return;
  // Reported, not asserted: how many inputs differ is a property of two
  // libraries we do not own. The point for chapter 0 is that it is not zero.
  report_contrast(Elementwise::CudaExpf, [](float v) { return atp::exp(v); }, "atp::exp", -87.0f, 88.0f);
  report_contrast(Elementwise::CudaExpf, [](float v) { return std::exp(v); }, "glibc expf", -87.0f, 88.0f);
  report_contrast(Elementwise::CudaTanhf, [](float v) { return atp::tanh(v); }, "atp::tanh", -10.0f, 10.0f);
  report_contrast(Elementwise::CudaTanhf, [](float v) { return std::tanh(v); }, "glibc tanhf", -10.0f, 10.0f);
  report_contrast(Elementwise::CudaErff, [](float v) { return atp::erf(v); }, "atp::erf", -5.0f, 5.0f);
  report_contrast(Elementwise::CudaErff, [](float v) { return std::erf(v); }, "glibc erff", -5.0f, 5.0f);
}

TEST_CASE("launch_elementwise works in place and with n = 0") {
  if (atp::test::skip_without_gpu()) return;
  std::vector<float> x = {-3.5f, -0.0f, 0.25f, 1.0f, 7.0f};
  DeviceBuffer<float> d = DeviceBuffer<float>::from_host(x);
  atp::cuda::launch_elementwise(Elementwise::Silu, d.data(), d.data(), d.size(), nullptr);
  atp::cuda::launch_elementwise(Elementwise::Silu, d.data(), d.data(), 0, nullptr);  // nothing to do
  const std::vector<float> got = d.to_host();
  std::vector<float> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = atp::silu(x[i]);
  atp::test::require_bitwise(got.data(), want.data(), x.size(), "in-place silu");
}

TEST_CASE("--fmad=false is in effect: the device rounds a*b+c twice, as the host does, unlike fma") {
  if (atp::test::skip_without_gpu()) return;
  // 1 + 2^-12 squared is 1 + 2^-11 + 2^-24: the product rounds (ties to
  // even) to 1 + 2^-11, so a*b - (1 + 2^-11) is 0 unfused but 2^-24 fused.
  const float a = 1.0f + 0x1p-12f;
  const float c = -(1.0f + 0x1p-11f);
  std::vector<float> av(1000), bv(1000), cv(1000);
  for (std::size_t i = 0; i < av.size(); ++i) {
    const float s = std::ldexp(1.0f, static_cast<int>(i % 20) - 10);  // exact scaling keeps the effect
    av[i] = a * s;
    bv[i] = a;
    cv[i] = c * s;
  }
  DeviceBuffer<float> da = DeviceBuffer<float>::from_host(av), db = DeviceBuffer<float>::from_host(bv),
                      dc = DeviceBuffer<float>::from_host(cv), dout(av.size());
  atp::cuda::launch_mul_add_unfused(da.data(), db.data(), dc.data(), dout.data(), av.size(), nullptr);
  const std::vector<float> got = dout.to_host();
  std::vector<float> unfused(av.size()), fused(av.size());
  for (std::size_t i = 0; i < av.size(); ++i) {
    unfused[i] = av[i] * bv[i] + cv[i];  // host: -ffp-contract=off, two roundings
    fused[i] = atp::fma(av[i], bv[i], cv[i]);
  }
  REQUIRE_FALSE(atp::compare_bitwise(unfused.data(), fused.data(), av.size()).equal());  // the case is sharp
  atp::test::require_bitwise(got.data(), unfused.data(), av.size(), "device a*b+c vs host a*b+c");
}
