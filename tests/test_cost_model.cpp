/// \file test_cost_model.cpp
/// \brief Chapter 10's cost model on cases worked by hand: NCCL's latency and
///        bandwidth tables for 8 x H100 (from tuning.cc's constants and the
///        profile's graphs), the tuner's choice, the book's alpha-beta forms,
///        the roofline, the timeline's synchronization rules, the file
///        writers, and every error a user can provoke.
///
/// Every expected number below is written out from the formula in the
/// comment next to it, not produced by the code under test.
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/sim/compute.hpp"
#include "atp/sim/cost/book_forms.hpp"
#include "atp/sim/cost/hardware.hpp"
#include "atp/sim/cost/models.hpp"
#include "atp/sim/cost/nccl_model.hpp"
#include "atp/sim/cost/op_cost.hpp"
#include "atp/sim/cost/timeline.hpp"
#include "atp/sim/cost/timeline_files.hpp"
#include "atp/sim/plan/dry_collectives.hpp"
#include "atp/sim/plan/dry_models.hpp"
#include "atp/sim/world.hpp"

#include <nlohmann/json.hpp>

#include <string>

using namespace atp::cost;
using atp::test::contains;
using atp::test::error_of;
namespace sim = atp::sim;

namespace {
const HardwareProfile& h100() { return hardware_profile("h100-sxm"); }
}  // namespace

TEST_CASE("every compiled-in hardware profile parses, with a source for every figure") {
  const auto& all = hardware_profiles();
  REQUIRE(all.size() >= 5);
  for (const char* n : {"a100-sxm", "h100-sxm", "h100-sxm-2node-ib", "h200-sxm", "l4-pcie"}) {
    const HardwareProfile& h = hardware_profile(n);
    CHECK(h.name == n);
    CHECK(!h.bf16_dense_tflops.source.empty());
    CHECK(!h.efficiency.kernel_floor_us.source.empty());
    CHECK(contains(h.describe_sources(), "efficiency.gemm_compute"));
  }
  CHECK(hardware_profile("h100-sxm").max_ranks() == 8);
  CHECK(hardware_profile("h100-sxm-2node-ib").max_ranks() == 16);
  CHECK(hardware_profile("h100-sxm-2node-ib").nodes_for(8) == 1);
  CHECK(hardware_profile("h100-sxm-2node-ib").nodes_for(9) == 2);
  CHECK(hardware_profile("l4-pcie").intra == LinkKind::PCI);
}

TEST_CASE("hardware errors name the bad value and the valid ones") {
  const std::string unknown = error_of([] { hardware_profile("h300"); });
  CHECK(contains(unknown, "unknown hardware profile 'h300'"));
  CHECK(contains(unknown, "h100-sxm"));
  CHECK(contains(unknown, "l4-pcie"));
  CHECK(contains(error_of([] { h100().nodes_for(9); }), "valid tp: 1..8"));
  CHECK(contains(error_of([] { h100().nodes_for(0); }), "tp 0"));
  CHECK(contains(error_of([] { load_hardware_profile_file("/nonexistent/x.json"); }), "/nonexistent/x.json"));
  // A figure without its source is refused, naming the field.
  nlohmann::json j = nlohmann::json::parse(R"({"format": "atp-cost-hardware", "version": 1, "name": "x",
      "description": "d", "gpu": {"model": "m", "arch": {"value": "hopper", "source": "s"},
      "bf16_dense_tflops": {"value": 1, "source": ""}}})");
  CHECK(contains(error_of([&] { parse_hardware_profile(j.dump(), "mine.json"); }), "mine.json: gpu.bf16_dense_tflops"));
  j["gpu"]["arch"]["value"] = "kepler";
  CHECK(contains(error_of([&] { parse_hardware_profile(j.dump(), "mine.json"); }), "'kepler'; valid: volta"));
  CHECK(contains(error_of([] { parse_hardware_profile("{", "bad.json"); }), "bad.json: not valid JSON"));
}

TEST_CASE("NCCL's tables for 8 x H100, worked from tuning.cc by hand") {
  const NcclTuningModel m(h100(), 8);
  using C = NcclCollective;
  using A = NcclAlgorithm;
  using P = NcclProtocol;
  // Ring all-reduce: 2(p-1) = 14 steps. LL: 6.6 + 14 * 0.6 us; busBw min(141, 24 * 15 * 0.5) = 141 -> * 8 / 14.
  CHECK(m.latency_us(C::AllReduce, A::Ring, P::LL) == doctest::Approx(15.0));
  CHECK(m.bandwidth_GBps(C::AllReduce, A::Ring, P::LL) == doctest::Approx(141.0 * 8 / 14));
  // LL128: 14.0 + 14 * 1.9; min(360 * 0.92, 24 * 36.7) = 331.2 -> * 8 / 14.
  CHECK(m.latency_us(C::AllReduce, A::Ring, P::LL128) == doctest::Approx(40.6));
  CHECK(m.bandwidth_GBps(C::AllReduce, A::Ring, P::LL128) == doctest::Approx(331.2 * 8 / 14));
  // Simple: 8.4 + 14 * 3.4; 360 -> * 8 / 14.
  CHECK(m.latency_us(C::AllReduce, A::Ring, P::Simple) == doctest::Approx(56.0));
  CHECK(m.bandwidth_GBps(C::AllReduce, A::Ring, P::Simple) == doctest::Approx(360.0 * 8 / 14));
  // Tree LL: 6.8 + 2 * (7 * 0.6); min(min(331.2, 24 * 38.7) / 3.8, 141) = 87.16 -> * 0.5.
  CHECK(m.latency_us(C::AllReduce, A::Tree, P::LL) == doctest::Approx(15.2));
  CHECK(m.bandwidth_GBps(C::AllReduce, A::Tree, P::LL) == doctest::Approx(331.2 / 3.8 * 0.5));
  // NVLS: latency 25 (hwLatencies NVLINK/NVLS/Simple); 8 * min(40 * 0.85 * 7/8 * 2, 60) = 476 -> * 8 / 14.
  CHECK(m.latency_us(C::AllReduce, A::NVLS, P::Simple) == doctest::Approx(25.0));
  CHECK(m.bandwidth_GBps(C::AllReduce, A::NVLS, P::Simple) == doctest::Approx(476.0 * 8 / 14));
  CHECK(m.bandwidth_GBps(C::AllReduce, A::NVLS, P::LL) == 0.0);
  // All-gather ring: p - 1 = 7 steps, busBw 360 -> * 8 / 7. NVLS all-gather: 8 * min(40 * .85 * 7/8 * (8-1)/8, 60),
  // left as it is (tuning.cc converts bus to algorithm bandwidth only for rings and for all-reduce).
  CHECK(m.latency_us(C::AllGather, A::Ring, P::Simple) == doctest::Approx(8.4 + 7 * 3.4));
  CHECK(m.bandwidth_GBps(C::AllGather, A::Ring, P::Simple) == doctest::Approx(360.0 * 8 / 7));
  CHECK(m.bandwidth_GBps(C::AllGather, A::NVLS, P::Simple) == doctest::Approx(8 * 40 * 0.85 * 7 / 8 * 7 / 8));
  CHECK(m.bandwidth_GBps(C::AllGather, A::Tree, P::LL) == 0.0);

  // The tuner: 8 bytes go Ring/LL (15.0 us, less than Tree/LL's 15.2), 1 GiB goes NVLS.
  const NcclEstimate small = m.best(C::AllReduce, 8);
  CHECK(small.name() == "ring/LL");
  CHECK(small.time_us == doctest::Approx(15.0 + 8 / (1000 * 141.0 * 8 / 14)));
  const double gib = 1073741824.0;
  const NcclEstimate big = m.best(C::AllReduce, gib);
  CHECK(big.name() == "nvls/Simple");
  CHECK(big.time_us == doctest::Approx(25 + gib / (1000 * 476.0 * 8 / 14)));
  // Tree's correction for 4 KiB: log2(4096 / 64) = 6 -> LL factor 0.7.
  CHECK(m.estimate(C::AllReduce, A::Tree, P::LL, 4096).bandwidth_GBps == doctest::Approx(331.2 / 3.8 * 0.5 * 0.7));
  CHECK(contains(m.table(), "all_reduce"));
  // One rank: nothing is called.
  CHECK(NcclTuningModel(h100(), 1).best(C::AllReduce, 1e6).time_us == 0.0);
}

TEST_CASE("NCCL across two nodes and on PCIe") {
  const HardwareProfile& two = hardware_profile("h100-sxm-2node-ib");
  const NcclTuningModel m(two, 16);
  CHECK(m.nodes() == 2);
  // Ring LL across 2 nodes: 30 steps, 2 of them over the network (2.7 us), the rest max(0.6, 1.0 net overhead).
  CHECK(m.latency_us(NcclCollective::AllReduce, NcclAlgorithm::Ring, NcclProtocol::LL) ==
        doctest::Approx(6.6 + 28 * 1.0 + 2 * 2.7));
  // Tree LL: 6.8 + 2 * ((8 - 1) * 0.6 + log2(2) * 5.0).
  CHECK(m.latency_us(NcclCollective::AllReduce, NcclAlgorithm::Tree, NcclProtocol::LL) ==
        doctest::Approx(6.8 + 2 * (7 * 0.6 + 5.0)));
  CHECK(m.bandwidth_GBps(NcclCollective::AllReduce, NcclAlgorithm::NVLS, NcclProtocol::Simple) == 0.0);
  // Within one node of the same profile the one-node graphs apply, NVLS included at 8 ranks.
  CHECK(NcclTuningModel(two, 8).bandwidth_GBps(NcclCollective::AllReduce, NcclAlgorithm::NVLS,
                                               NcclProtocol::Simple) > 0.0);
  // PCIe: no LL128; ring LL latency 6.6 + 6 * 1.0 for 4 ranks.
  const NcclTuningModel l4(hardware_profile("l4-pcie"), 4);
  CHECK(l4.bandwidth_GBps(NcclCollective::AllReduce, NcclAlgorithm::Ring, NcclProtocol::LL128) == 0.0);
  CHECK(l4.latency_us(NcclCollective::AllReduce, NcclAlgorithm::Ring, NcclProtocol::LL) == doctest::Approx(12.6));
}

TEST_CASE("the book's forms: alpha0 + steps alpha + bytes / B, on issue 9's links") {
  const atp::sim::LinkProfile& f = h100().book_one_node;  // nvlink4: 6.6 us, 0.6 us, 450 GB/s
  CHECK(f.name == "nvlink4");
  CHECK(hardware_profile("h100-sxm-2node-ib").book_for(16).name == "ib-ndr");
  CHECK(hardware_profile("l4-pcie").book_one_node.bandwidth_GBps.value == 32);
  CHECK(book_steps("all_reduce_rank_order", 4) == 1);
  CHECK(book_steps("all_reduce_ring", 4) == 6);
  CHECK(book_steps("all_gather", 4) == 3);
  CHECK(book_steps("all_reduce_tree", 8) == 3);
  // Ring of a 6 MB message over 4 ranks: 2(p-1) = 6 steps, 2(p-1)/p S = 9 MB through each link.
  CHECK(book_collective_seconds("all_reduce_ring", 4, 6e6, 9e6, f) == doctest::Approx(6.6e-6 + 6 * 0.6e-6 + 9e6 / 450e9));
  // One-shot: 1 step, (p-1) S = 18 MB through each link.
  CHECK(book_collective_seconds("all_reduce_rank_order", 4, 6e6, 18e6, f) ==
        doctest::Approx(6.6e-6 + 0.6e-6 + 18e6 / 450e9));
  CHECK(book_collective_seconds("all_gather", 4, 1e6, 3e6, f) == doctest::Approx(6.6e-6 + 3 * 0.6e-6 + 3e6 / 450e9));
  CHECK(book_collective_seconds("all_reduce_rank_order", 1, 9e6, 0, f) == 0.0);
  CHECK(contains(error_of([&] { book_steps("all_to_all", 4); }), "no book form for trace op 'all_to_all'"));
}

TEST_CASE("the roofline: compute-bound, memory-bound and the floor") {
  // 4096^3 matmul: 2 * 4096^3 flops at 989e12 * 0.803 -> 173 us; memory 2 * 3 * 4096^2 bytes at 3.35e12 * 0.84.
  const double n = 4096, flops = 2 * n * n * n, bytes = 2 * 3 * n * n;
  const KernelCost big = roofline(OpClass::Gemm, flops, bytes, h100());
  CHECK(big.compute_s == doctest::Approx(flops / (989e12 * 0.803)));
  CHECK(big.memory_s == doctest::Approx(bytes / (3.35e12 * 0.84)));
  CHECK(std::string(big.bound()) == "compute");
  // Decode: (1, 4096) x (4096, 4096): 2 * 4096^2 flops, 2 * 4096^2 weight bytes dominate -> memory-bound.
  const KernelCost gemv = roofline(OpClass::Gemm, 2 * n * n, 2 * (n + n * n + n), h100());
  CHECK(std::string(gemv.bound()) == "memory");
  const KernelCost tiny = roofline(OpClass::Gemm, 100, 100, h100());
  CHECK(std::string(tiny.bound()) == "floor");
  CHECK(tiny.seconds == doctest::Approx(2e-6));

  sim::TraceEvent mm;
  mm.op = "matmul";
  mm.label = "x.up";
  mm.shape_in = {3, 5};
  mm.shape_out = {3, 7};
  CHECK(matmul_bytes(mm, OpClass::Gemm, 2, 1) == 2.0 * (15 + 35 + 21));
  mm.label = "x.attn.scores";  // q (T, d) = (3, 5), keys (S, d) = (7, 5) shared by g = 2 heads
  CHECK(matmul_bytes(mm, OpClass::Attention, 2, 2) == 2.0 * (15 + 35 / 2.0));
  CHECK(classify_matmul("block0.attn.attn.context") == OpClass::Attention);
  CHECK(label_stem("block0.attn.attn.context") == "block0.attn.attn");
}

TEST_CASE("the timeline: one stream per rank, collectives synchronize, waits are visible") {
  sim::World w(2);
  sim::record_matmul(w, 0, 4096, 4096, 4096, "big");   // rank 0: 2 * 4096^3 flops
  sim::record_matmul(w, 1, 1024, 4096, 4096, "small");  // rank 1: a quarter of it
  sim::dry::all_reduce(w, sim::ReduceOrder::RankOrder, {1024, 1024}, "sync");
  CostOptions o;
  o.collectives = CollectiveModel::Book;
  const Timeline t = schedule(w.trace(), h100(), o);
  const double big = roofline(OpClass::Gemm, 2 * 4096.0 * 4096 * 4096, 2 * 3 * 4096.0 * 4096, h100()).seconds;
  const double small =
      roofline(OpClass::Gemm, 2 * 1024.0 * 4096 * 4096, 2 * (1024.0 * 4096 + 4096.0 * 4096 + 1024.0 * 4096), h100())
          .seconds;
  // One-shot all-reduce of 1024^2 bf16 over 2 ranks: each rank sends 2 MiB once.
  const double ar = 6.6e-6 + 0.6e-6 + 2.0 * 1024 * 1024 / 450e9;
  CHECK(t.ranks[0].compute_s == doctest::Approx(big));
  CHECK(t.ranks[1].wait_s == doctest::Approx(big - small));
  CHECK(t.ranks[0].wait_s == 0.0);
  CHECK(t.makespan_s == doctest::Approx(big + ar));
  CHECK(t.idle_fraction(1) == doctest::Approx((big - small) / (big + ar)));
  CHECK(t.seconds_of_op(0, "all_reduce_rank_order") == doctest::Approx(ar));
  CHECK(contains(timeline_table(t), "makespan"));
  CHECK(contains(breakdown_table(t, 0, 1), "big"));

  // Rank-by-rank fusion of one layer's attention heads into one kernel.
  sim::World a(1);
  for (int h = 0; h < 4; ++h) {
    sim::record_matmul(a, 0, 16, 16, 8, "l.attn.scores");
    sim::record_matmul(a, 0, 16, 8, 16, "l.attn.context");
  }
  const Timeline ta = schedule(a.trace(), h100(), {});
  REQUIRE(ta.spans.size() == 1);
  CHECK(ta.spans[0].events == 8);
  CHECK(ta.spans[0].label == "l.attn");
}

TEST_CASE("the timeline refuses collectives the ranks disagree on (a hang on GPUs)") {
  sim::World w(2);
  const std::int64_t c1 = w.trace().begin_call(), c2 = w.trace().begin_call();
  auto ev = [&](int r, std::int64_t call, const char* label) {
    sim::TraceEvent e;
    e.op = "all_gather";
    e.label = label;
    e.rank = r;
    e.call = call;
    e.shape_in = {1, 1};
    e.shape_out = {2, 1};
    w.trace().record(e);
  };
  ev(0, c1, "first");
  ev(1, c2, "second");
  ev(0, c2, "second");
  ev(1, c1, "first");
  const std::string err = error_of([&] { schedule(w.trace(), h100(), {}); });
  CHECK(contains(err, "would hang"));
  CHECK(contains(err, "'first'"));
  CHECK(contains(err, "'second'"));
  CHECK(contains(error_of([&] { schedule(sim::World(9).trace(), h100(), {}); }), "valid tp: 1..8"));
  CostOptions bad;
  bad.element_bytes = 3;
  CHECK(contains(error_of([&] { schedule(w.trace(), h100(), bad); }), "valid: 2 (bf16), 4 (fp32)"));
}

TEST_CASE("Chrome JSON and SVG writers") {
  sim::World w(2);
  sim::record_matmul(w, 0, 64, 64, 64, "a<b");
  sim::dry::all_reduce(w, sim::ReduceOrder::Ring, {8, 8}, "ar");
  const Timeline t = schedule(w.trace(), h100(), {});
  const auto doc = nlohmann::json::parse(chrome_trace_json(t, "test"));
  int complete = 0;
  for (const auto& e : doc.at("traceEvents"))
    if (e.at("ph") == "X") {
      ++complete;
      CHECK(e.at("dur").get<double>() >= 0);
    }
  CHECK(complete == static_cast<int>(t.spans.size()));
  const std::string svg = timeline_svg(t, "title & more");
  CHECK(contains(svg, "<svg"));
  CHECK(contains(svg, "rank 1"));
  CHECK(contains(svg, "title &amp; more"));
  CHECK(contains(svg, "a&lt;b"));
  CHECK(contains(error_of([&] { timeline_svg(t, "x", 10); }), "width 10"));
  CHECK(contains(error_of([&] { write_text_file("/nonexistent-dir/x.svg", "x"); }), "/nonexistent-dir/x.svg"));
}

TEST_CASE("the model catalog: shapes, sources and unknown names") {
  const ModelCatalog& c = model_catalog();
  const DecoderModel& llama = c.decoder("llama-2-7b");
  CHECK(llama.shape.hidden == 4096);
  CHECK(llama.shape.intermediate == 11008);
  CHECK(contains(llama.source, "config.json"));
  const VisionModel& qwen = c.vision_model("qwen2.5-vl-7b-vision");
  CHECK(qwen.shape.intermediate == 3420);
  CHECK(qwen.shape.merger_hidden == 5120);
  CHECK(qwen.shape.merger_out == 3584);
  const std::string err = error_of([&] { c.vlm("llava-2"); });
  CHECK(contains(err, "unknown model 'llava-2'"));
  CHECK(contains(err, "llava-1.5-7b"));
  CHECK(contains(err, "qwen2.5-vl-7b"));
}
