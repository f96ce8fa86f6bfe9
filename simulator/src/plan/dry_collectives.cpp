/// \file dry_collectives.cpp
/// \brief Shape-only collectives: collectives.cpp's trace events without the data.
#include "atp/sim/plan/dry_collectives.hpp"

#include "atp/sim/collectives.hpp"
#include "atp/sim/ring_schedule.hpp"

#include <stdexcept>
#include <utility>
#include <vector>

namespace atp::sim::dry {

namespace {

constexpr std::int64_t kFloatBytes = 4;  // the simulator's fp32 elements

struct Cost {
  std::int64_t sent = 0, received = 0, flops = 0;
};

void check_shape(Shape s, const char* op, const std::string& label) {
  if (s.rows < 0 || s.cols < 0)
    throw std::invalid_argument(std::string("dry ") + op + " '" + label + "': shape (" + std::to_string(s.rows) + ", " +
                                std::to_string(s.cols) + ") must not be negative");
}

/// One event per rank under one call id, as collectives.cpp's record().
void record(World& world, const char* op, const std::string& label, const std::vector<Shape>& in,
            const std::vector<Shape>& out, const std::vector<Cost>& cost) {
  const std::int64_t call = world.trace().begin_call();
  for (int r = 0; r < world.size(); ++r) {
    const auto R = static_cast<std::size_t>(r);
    TraceEvent e;
    e.op = op;
    e.label = label;
    e.rank = r;
    e.call = call;
    e.shape_in = {in[R].rows, in[R].cols};
    e.shape_out = {out[R].rows, out[R].cols};
    e.bytes_sent = cost[R].sent;
    e.bytes_received = cost[R].received;
    e.flops = cost[R].flops;
    world.trace().record(std::move(e));
  }
}

std::vector<Shape> same(int p, Shape s) { return std::vector<Shape>(static_cast<std::size_t>(p), s); }

}  // namespace

Shape all_reduce(World& world, ReduceOrder order, Shape shape, const std::string& label) {
  const int p = world.size();
  const std::int64_t n = shape.elements();
  if (order == ReduceOrder::RankOrder) {
    check_shape(shape, ops::kAllReduceRankOrder, label);
    record(world, ops::kAllReduceRankOrder, label, same(p, shape), same(p, shape),
           std::vector<Cost>(static_cast<std::size_t>(p), {kFloatBytes * n * (p - 1), kFloatBytes * n * (p - 1),
                                                           n * (p - 1)}));
    return shape;
  }
  check_shape(shape, ops::kAllReduceRing, label);
  std::vector<Cost> cost(static_cast<std::size_t>(p));
  for (const RingStep& s : ring_schedule(p, n)) {  // the real one walks the same schedule
    const std::int64_t len = s.end - s.begin;
    if (s.phase == RingPhase::ReduceScatter) cost[static_cast<std::size_t>(s.dst)].flops += len;
    cost[static_cast<std::size_t>(s.src)].sent += kFloatBytes * len;
    cost[static_cast<std::size_t>(s.dst)].received += kFloatBytes * len;
  }
  record(world, ops::kAllReduceRing, label, same(p, shape), same(p, shape), cost);
  return shape;
}

Shape all_gather(World& world, Shape shape, Axis axis, const std::string& label) {
  check_shape(shape, ops::kAllGather, label);
  const int p = world.size();
  const Shape out = axis == Axis::Rows ? Shape{p * shape.rows, shape.cols} : Shape{shape.rows, p * shape.cols};
  const std::int64_t bytes = kFloatBytes * shape.elements() * (p - 1);
  record(world, ops::kAllGather, label, same(p, shape), same(p, out),
         std::vector<Cost>(static_cast<std::size_t>(p), {bytes, bytes, 0}));
  return out;
}

Shape reduce_scatter(World& world, Shape shape, Axis axis, const std::string& label) {
  check_shape(shape, ops::kReduceScatter, label);
  const int p = world.size();
  const std::int64_t dim = axis == Axis::Rows ? shape.rows : shape.cols;
  const std::int64_t block =
      divide(dim, p, std::string("dry reduce_scatter '") + label + "': " + axis_name(axis) + " of (" +
                         std::to_string(shape.rows) + ", " + std::to_string(shape.cols) + ")");
  const Shape out = axis == Axis::Rows ? Shape{block, shape.cols} : Shape{shape.rows, block};
  const std::int64_t n_block = shape.elements() / p;
  record(world, ops::kReduceScatter, label, same(p, shape), same(p, out),
         std::vector<Cost>(static_cast<std::size_t>(p),
                           {kFloatBytes * n_block * (p - 1), kFloatBytes * n_block * (p - 1), n_block * (p - 1)}));
  return out;
}

Shape broadcast(World& world, Shape shape, int root, bool receivers_pass_empty, const std::string& label) {
  check_shape(shape, ops::kBroadcast, label);
  world.check_rank(root, std::string(ops::kBroadcast) + " '" + label + "': root");
  const int p = world.size();
  std::vector<Shape> in = same(p, shape);
  if (receivers_pass_empty)
    for (int r = 0; r < p; ++r)
      if (r != root) in[static_cast<std::size_t>(r)] = Shape{0, 0};
  const std::int64_t bytes = kFloatBytes * shape.elements();
  const int last = (root + p - 1) % p;
  std::vector<Cost> cost(static_cast<std::size_t>(p));
  for (int r = 0; r < p && p > 1; ++r) {
    cost[static_cast<std::size_t>(r)].sent = r == last ? 0 : bytes;
    cost[static_cast<std::size_t>(r)].received = r == root ? 0 : bytes;
  }
  record(world, ops::kBroadcast, label, in, same(p, shape), cost);
  return shape;
}

Shape gather(World& world, Shape shape, int root, Axis axis, const std::string& label) {
  check_shape(shape, ops::kGather, label);
  world.check_rank(root, std::string(ops::kGather) + " '" + label + "': root");
  const int p = world.size();
  const Shape whole = axis == Axis::Rows ? Shape{p * shape.rows, shape.cols} : Shape{shape.rows, p * shape.cols};
  std::vector<Shape> out = same(p, Shape{0, 0});
  out[static_cast<std::size_t>(root)] = whole;
  const std::int64_t bytes = kFloatBytes * shape.elements();
  std::vector<Cost> cost(static_cast<std::size_t>(p));
  for (int r = 0; r < p; ++r) {
    cost[static_cast<std::size_t>(r)].sent = r == root ? 0 : bytes;
    cost[static_cast<std::size_t>(r)].received = r == root ? bytes * (p - 1) : 0;
  }
  record(world, ops::kGather, label, same(p, shape), out, cost);
  return whole;
}

}  // namespace atp::sim::dry
