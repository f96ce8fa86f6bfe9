/// \file test_collective_call.cpp
/// \brief Mismatched collectives: the descriptor both sides exchange
///        (atp/sim/collective_call.hpp) survives its wire form, names both
///        calls when ranks disagree in op, count, shape, root, axis or call
///        order, and the simulator's collectives report a rank whose shape
///        differs with both calls and the call index.
///
/// The GPU debug mode that exchanges these descriptors over NCCL
/// (ATP_COLLECTIVE_CHECK=1) is provoked by tests/gpu/test_gpu_collectives.cpp.
#include "atp/sim/collective_call.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/world.hpp"

#include "test_util.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace sim = atp::sim;
using atp::Matrix;
using atp::test::contains;
using atp::test::error_of;

namespace {

sim::CollectiveCall call(sim::CollectiveOp op, std::int64_t count, std::int64_t index = 3) {
  sim::CollectiveCall c;
  c.op = op;
  c.count = count;
  c.index = index;
  return c;
}

}  // namespace

TEST_CASE("collective call: the wire form round-trips every field, negative ones included") {
  sim::CollectiveCall c = call(sim::CollectiveOp::Gather, 1003, 41);
  c.rows = 17;
  c.cols = 59;
  c.root = 2;
  c.axis = 1;
  CHECK(sim::from_wire(sim::to_wire(c), 0) == c);
  const sim::CollectiveCall flat = call(sim::CollectiveOp::AllReduceNative, 0);  // root = axis = rows = -1
  CHECK(sim::from_wire(sim::to_wire(flat), 0) == flat);
  auto garbage = sim::to_wire(c);
  garbage[0] = 0;  // not our tag: a rank running some other all-gather
  CHECK(contains(error_of([&] { (void)sim::from_wire(garbage, 3); }), "rank 3 sent something that is not"));
  auto bad_op = sim::to_wire(c);
  bad_op[1] = 99;
  CHECK(contains(error_of([&] { (void)sim::from_wire(bad_op, 1); }), "rank 1"));
}

TEST_CASE("collective call: every kind of disagreement is reported with both calls") {
  const sim::CollectiveCall base = call(sim::CollectiveOp::AllReduceRing, 1003);
  sim::require_matching_calls({base, base, base}, "here");  // agreement: no throw
  struct Variant {
    const char* what;
    sim::CollectiveCall other;
    const char* other_text;
  };
  sim::CollectiveCall op = base, count = base, root = base, axis = base, order = base, shape = base;
  op.op = sim::CollectiveOp::AllGather;
  count.count = 1002;
  root.root = 1;
  axis.axis = 0;
  order.index = 4;
  shape.rows = 17;
  shape.cols = 59;
  const Variant variants[] = {{"op", op, "all_gather #3 of 1003 float32"},
                              {"count", count, "all_reduce_ring #3 of 1002 float32"},
                              {"root", root, "all_reduce_ring #3 of 1003 float32 with root 1"},
                              {"axis", axis, "all_reduce_ring #3 of 1003 float32 along rows"},
                              {"call order", order, "all_reduce_ring #4 of 1003 float32"},
                              {"shape", shape, "all_reduce_ring #3 of 1003 float32 (17, 59)"}};
  for (const auto& v : variants) {
    INFO(v.what);
    const std::string e = error_of([&] { sim::require_matching_calls({base, base, v.other}, "all_reduce on rank 0"); });
    CHECK(contains(e, "all_reduce on rank 0: rank 2 called " + std::string(v.other_text)));
    CHECK(contains(e, "but rank 0 called all_reduce_ring #3 of 1003 float32"));
  }
  // The exception is a CollectiveMismatch, itself a std::invalid_argument.
  CHECK_THROWS_AS(sim::require_matching_calls({base, op}, "x"), sim::CollectiveMismatch);
}

TEST_CASE("collective call: the simulator reports a rank whose shape differs, with the call index") {
  sim::World world(3);
  sim::PerRank<Matrix> x(3, Matrix::Zero(2, 4));
  (void)sim::all_reduce_ring(world, x, "first");  // call #0
  x[1] = Matrix::Zero(2, 5);
  const std::string e = error_of([&] { (void)sim::all_gather(world, x, sim::Axis::Cols, "second"); });
  CHECK(contains(e, "all_gather 'second': rank 1 called all_gather #1 of 10 float32 (2, 5) along cols"));
  CHECK(contains(e, "but rank 0 called all_gather #1 of 8 float32 (2, 4) along cols"));
  const std::string g = error_of([&] { (void)sim::gather(world, x, 2, sim::Axis::Rows, "third"); });
  CHECK(contains(g, "rank 1 called gather #1 of 10 float32 (2, 5) along rows with root 2"));
  // Op, root and axis are one argument for all ranks in the simulator: they cannot differ
  // by construction (collectives.hpp), so shape is the only per-rank disagreement to catch.
}
