/// \file test_alpha_beta.cpp
/// \brief The alpha-beta all-reduce model (alpha_beta.hpp) against times
///        worked out by hand on a made-up link, and the compiled-in hardware
///        figures: every one present, positive and sourced.
#include "atp/sim/alpha_beta.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <set>
#include <stdexcept>
#include <string>

using namespace atp::sim;

namespace {

/// B = 100 GB/s, alpha = 1 us, alpha0 = 5 us: round numbers to check by hand.
LinkProfile toy_link() {
  LinkProfile l;
  l.name = "toy";
  l.bandwidth_GBps = {100.0, "test"};
  l.step_latency_us = {1.0, "test"};
  l.launch_latency_us = {5.0, "test"};
  return l;
}

std::string error_of(const auto& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("alpha-beta: each form's steps, bytes and time, worked by hand") {
  const LinkProfile l = toy_link();
  const double S = 1048576.0;  // 1 MiB per rank
  // Ring, p = 4: 6 steps, 2*3/4 S = 1.5 MiB; 5 + 6 us + 1572864 / 1e11 s.
  const auto ring = all_reduce_time(AllReduceForm::Ring, 4, S, l);
  CHECK(ring.steps == 6);
  CHECK(ring.bytes_per_rank == doctest::Approx(1572864.0));
  CHECK(ring.total_s() == doctest::Approx(11e-6 + 15.72864e-6).epsilon(1e-12));
  // One-shot, p = 4: 1 step, 3 S; 5 + 1 us + 3145728 / 1e11 s.
  const auto one = all_reduce_time(AllReduceForm::OneShot, 4, S, l);
  CHECK(one.steps == 1);
  CHECK(one.total_s() == doctest::Approx(6e-6 + 31.45728e-6).epsilon(1e-12));
  // Two-shot, p = 4: 2 steps, 1.5 MiB.
  const auto two = all_reduce_time(AllReduceForm::TwoShot, 4, S, l);
  CHECK(two.steps == 2);
  CHECK(two.total_s() == doctest::Approx(7e-6 + 15.72864e-6).epsilon(1e-12));
  // Tree, p = 5: depth ceil(log2 5) = 3, 6 steps each moving S.
  const auto tree = all_reduce_time(AllReduceForm::Tree, 5, S, l);
  CHECK(tree.steps == 6);
  CHECK(tree.total_s() == doctest::Approx(11e-6 + 6.0 * 10.48576e-6).epsilon(1e-12));
  // p = 1: no call at all.
  for (auto f : all_reduce_forms()) CHECK(all_reduce_time(f, 1, S, l).total_s() == 0.0);
}

TEST_CASE("alpha-beta: small messages favour one-shot, large ones the ring; the crossover in between") {
  const LinkProfile l = toy_link();
  // p = 4: S* = (2p-3) alpha B / ((p-1)(p-2)/p) = 5 * 1e-6 * 1e11 / 1.5.
  CHECK(crossover_bytes(AllReduceForm::OneShot, AllReduceForm::Ring, 4, l) == doctest::Approx(5e5 / 1.5));
  CHECK(crossover_bytes(AllReduceForm::Ring, AllReduceForm::OneShot, 4, l) == doctest::Approx(5e5 / 1.5));
  // p = 2: both move S, one-shot has fewer steps: no crossing.
  CHECK(crossover_bytes(AllReduceForm::OneShot, AllReduceForm::Ring, 2, l) == 0.0);
  // One-shot against two-shot, p = 4: alpha + 3 S/B = 2 alpha + 1.5 S/B  <=>  S = alpha B / 1.5.
  CHECK(crossover_bytes(AllReduceForm::OneShot, AllReduceForm::TwoShot, 4, l) == doctest::Approx(1e5 / 1.5));
  // Ring and two-shot move the same bytes: parallel lines, no crossing.
  CHECK(crossover_bytes(AllReduceForm::Ring, AllReduceForm::TwoShot, 4, l) == 0.0);
  CHECK(all_reduce_time(AllReduceForm::OneShot, 4, 1e5, l).total_s() <
        all_reduce_time(AllReduceForm::Ring, 4, 1e5, l).total_s());
  CHECK(all_reduce_time(AllReduceForm::OneShot, 4, 1e6, l).total_s() >
        all_reduce_time(AllReduceForm::Ring, 4, 1e6, l).total_s());
  // p = 2: one-shot and ring move the same S, one-shot takes 1 step instead of 2.
  CHECK(all_reduce_time(AllReduceForm::OneShot, 2, 1e9, l).total_s() <
        all_reduce_time(AllReduceForm::Ring, 2, 1e9, l).total_s());
}

TEST_CASE("alpha-beta: bad arguments are refused with the value") {
  const LinkProfile l = toy_link();
  CHECK(error_of([&] { all_reduce_time(AllReduceForm::Ring, 0, 8.0, l); }).find("p = 0") != std::string::npos);
  CHECK(error_of([&] { all_reduce_time(AllReduceForm::Ring, 2, -1.0, l); }).find("-1") != std::string::npos);
  const std::string e = error_of([] { link_profile("nvlink9"); });
  CHECK(e.find("'nvlink9'") != std::string::npos);
  CHECK(e.find("nvlink4") != std::string::npos);
  CHECK(error_of([] { gpu_profile("b300"); }).find("h100-sxm") != std::string::npos);
}

TEST_CASE("hardware.json: every link and GPU figure is present, positive and cites a source") {
  const auto j = nlohmann::json::parse(hardware_json_text());
  CHECK(j.at("format") == "atp-hardware");
  std::set<std::string> names;
  REQUIRE(link_profiles().size() >= 4u);
  for (const auto& link : link_profiles()) {
    CHECK(names.insert(link.name).second);
    for (const SourcedFigure* f : {&link.bandwidth_GBps, &link.step_latency_us, &link.launch_latency_us}) {
      CHECK(f->value > 0.0);
      CHECK(f->source.size() > 10u);
    }
  }
  for (const char* needed : {"nvlink4", "nvlink3", "pcie5", "ib-ndr"}) CHECK(names.count(needed) == 1u);
  // The figures the chapters quote, as the JSON states them.
  CHECK(link_profile("nvlink4").bandwidth() == 450e9);
  CHECK(link_profile("ib-ndr").bandwidth() == 50e9);
  CHECK(link_profile("nvlink4").step_latency() == doctest::Approx(0.6e-6));
  const GpuProfile& h100 = gpu_profile("h100-sxm");
  CHECK(h100.flops() == 989e12);
  CHECK(h100.memory_bandwidth() == doctest::Approx(3.35e12));
  CHECK(h100.bf16_dense_TFLOPS.source.find("datasheet") != std::string::npos);
}
