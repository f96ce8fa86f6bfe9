/// \file collectives.cpp
/// \brief The simulated collectives: argument checks, the data movement, the
///        sums in their documented orders, and one trace event per rank.
#include "atp/sim/collectives.hpp"

#include "atp/sim/collective_call.hpp"
#include "atp/sim/ring_schedule.hpp"

#include "collective_record.hpp"

#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

namespace atp::sim {

namespace {

using detail::check_rank_count;
using detail::check_same_shapes;
using detail::elements;
using detail::kFloatBytes;
using detail::RankCost;
using detail::record;
using detail::say;
using detail::where;

// What rank r passes, as the GPU debug mode would describe it (collective_call.hpp).
// Op, root, axis and index are one value for all ranks by construction here;
// the shapes are what a simulated program can get wrong per rank.
CollectiveCall call_of(const World& world, CollectiveOp op, const Matrix& m, int root, int axis) {
  CollectiveCall c;
  c.op = op;
  c.count = elements(m);
  c.rows = m.rows();
  c.cols = m.cols();
  c.root = root;
  c.axis = axis;
  c.index = world.trace().next_call();
  return c;
}

// Every rank must make the same call: the first rank whose shape differs from
// rank 0's is reported with both calls.
void check_same_calls(const World& world, const PerRank<Matrix>& in, CollectiveOp op, int root, int axis,
                      const std::string& label) {
  std::vector<CollectiveCall> calls;
  for (int r = 0; r < in.size(); ++r) {
    // A broadcast receive buffer may be empty (0, 0): it then stands for root's shape.
    const bool empty_receiver = op == CollectiveOp::Broadcast && r != root && in[r].size() == 0;
    calls.push_back(call_of(world, op, empty_receiver ? in[root] : in[r], root, axis));
  }
  require_matching_calls(calls, where(op_name(op), label));
}

int axis_code(Axis axis) { return axis == Axis::Rows ? 0 : 1; }

void check_root(const World& world, int root, const char* op, const std::string& label) {
  world.check_rank(root, where(op, label) + ": root");
}

/// The rank-order sum written out for p ranks: "x0" (nothing to add), "x0 + x1",
/// "(x0 + x1) + x2", "((x0 + x1) + x2) + x3", then "((x0 + x1) + ...) + x7".
std::string rank_order_formula(int p) {
  if (p == 1) return "x0";
  if (p > 4) return "((x0 + x1) + ...) + x" + std::to_string(p - 1);
  std::string s = "x0";
  for (int r = 1; r < p; ++r) s = (r > 1 ? "(" + s + ")" : s) + " + x" + std::to_string(r);
  return s;
}

}  // namespace

Matrix rank_order_sum(const PerRank<Matrix>& x) {
  if (x.size() < 1) throw std::invalid_argument("rank_order_sum: no ranks (p = 0); pass one matrix per rank");
  check_same_shapes(x, "rank_order_sum", "");
  Matrix sum = x[0];
  const std::int64_t n = elements(sum);
  float* acc = sum.data();
  // ((x0 + x1) + x2) + ...: one rounded add per rank, ranks ascending.
  for (int r = 1; r < x.size(); ++r) {
    const float* xr = x[r].data();
    for (std::int64_t i = 0; i < n; ++i) acc[i] = acc[i] + xr[i];
  }
  return sum;
}

PerRank<Matrix> all_reduce_rank_order(World& world, const PerRank<Matrix>& in, const std::string& label) {
  const char* op = ops::kAllReduceRankOrder;
  check_rank_count(world, in, op, label);
  check_same_calls(world, in, CollectiveOp::AllReduceRankOrder, -1, -1, label);
  const int p = world.size();
  // Every rank gathers all p inputs (ring all-gather) and sums them itself in
  // rank order; the p sums are identical because they are the same operations.
  PerRank<Matrix> out = replicate(rank_order_sum(in), p);
  const std::int64_t n = elements(in[0]);
  std::vector<RankCost> cost(static_cast<std::size_t>(p),
                             {kFloatBytes * n * (p - 1), kFloatBytes * n * (p - 1), n * (p - 1)});
  if (p == 1)
    say(world, where(op, label) + ": one rank, nothing to send or add: the output is x0");
  else
    say(world, where(op, label) + ": all-gather " + shape_string(in[0]) + " from " + std::to_string(p) +
                   " ranks, then every rank sums " + rank_order_formula(p));
  record(world, op, label, in, out, cost);
  return out;
}

PerRank<Matrix> all_reduce_ring(World& world, const PerRank<Matrix>& in, const std::string& label) {
  const char* op = ops::kAllReduceRing;
  check_rank_count(world, in, op, label);
  check_same_calls(world, in, CollectiveOp::AllReduceRing, -1, -1, label);
  const int p = world.size();
  const std::int64_t n = elements(in[0]);
  PerRank<Matrix> buf = in;  // each rank's working buffer, updated step by step
  const std::vector<RingStep> schedule = ring_schedule(p, n);
  std::vector<RankCost> cost(static_cast<std::size_t>(p));

  say(world, where(op, label) + ": " + std::to_string(n) + " elements in " + std::to_string(p) + " chunks of up to " +
                 std::to_string(ring_chunk_size(p, n)));
  // Steps of one (phase, step) happen at the same time: take every message
  // first, then deliver them, exactly as p GPUs exchanging buffers would.
  for (std::size_t first = 0; first < schedule.size();) {
    std::size_t last = first;
    while (last < schedule.size() && schedule[last].phase == schedule[first].phase &&
           schedule[last].step == schedule[first].step)
      ++last;
    std::vector<std::vector<float>> messages;
    for (std::size_t k = first; k < last; ++k) {
      const RingStep& s = schedule[k];
      const float* src = buf[s.src].data();
      messages.emplace_back(src + s.begin, src + s.end);
    }
    for (std::size_t k = first; k < last; ++k) {
      const RingStep& s = schedule[k];
      const std::vector<float>& msg = messages[k - first];
      float* dst = buf[s.dst].data() + s.begin;
      const std::int64_t len = s.end - s.begin;
      if (s.phase == RingPhase::ReduceScatter) {
        // received partial + own value: the running sum grows to the left.
        for (std::int64_t i = 0; i < len; ++i) dst[i] = msg[static_cast<std::size_t>(i)] + dst[i];
        cost[static_cast<std::size_t>(s.dst)].flops += len;
      } else {
        for (std::int64_t i = 0; i < len; ++i) dst[i] = msg[static_cast<std::size_t>(i)];
      }
      cost[static_cast<std::size_t>(s.src)].sent += kFloatBytes * len;
      cost[static_cast<std::size_t>(s.dst)].received += kFloatBytes * len;
      say(world, "  " + describe(s));
    }
    first = last;
  }
  record(world, op, label, in, buf, cost);
  return buf;
}

PerRank<Matrix> all_gather(World& world, const PerRank<Matrix>& in, Axis axis, const std::string& label) {
  const char* op = ops::kAllGather;
  check_rank_count(world, in, op, label);
  check_same_calls(world, in, CollectiveOp::AllGather, -1, axis_code(axis), label);
  const int p = world.size();
  PerRank<Matrix> out = replicate(concat(in, axis), p);
  const std::int64_t bytes = kFloatBytes * elements(in[0]) * (p - 1);
  std::vector<RankCost> cost(static_cast<std::size_t>(p), {bytes, bytes, 0});
  say(world, where(op, label) + ": " + std::to_string(p) + " x " + shape_string(in[0]) + " joined along " +
                 axis_name(axis) + " -> " + shape_string(out[0]) + " on every rank");
  record(world, op, label, in, out, cost);
  return out;
}

PerRank<Matrix> reduce_scatter(World& world, const PerRank<Matrix>& in, Axis axis, const std::string& label) {
  const char* op = ops::kReduceScatter;
  check_rank_count(world, in, op, label);
  check_same_calls(world, in, CollectiveOp::ReduceScatter, -1, axis_code(axis), label);
  const int p = world.size();
  const Eigen::Index dim = axis == Axis::Rows ? in[0].rows() : in[0].cols();
  const auto block = divide(dim, p, where(op, label) + ": " + axis_name(axis) + " of " + shape_string(in[0]));
  // Rank j receives block j from every other rank directly and sums the p
  // blocks in rank order: same bits as slicing the rank-order all-reduce.
  const Matrix sum = rank_order_sum(in);
  PerRank<Matrix> out = make_per_rank(p, [&](int r) -> Matrix {
    return axis == Axis::Rows ? Matrix(sum.middleRows(r * block, block)) : Matrix(sum.middleCols(r * block, block));
  });
  const std::int64_t n_block = elements(in[0]) / p;
  std::vector<RankCost> cost(static_cast<std::size_t>(p), {kFloatBytes * n_block * (p - 1),
                                                           kFloatBytes * n_block * (p - 1), n_block * (p - 1)});
  say(world, where(op, label) + ": rank-order sum of " + std::to_string(p) + " x " + shape_string(in[0]) +
                 ", rank r keeps block r of the " + axis_name(axis) + " -> " + shape_string(out[0]));
  record(world, op, label, in, out, cost);
  return out;
}

PerRank<Matrix> broadcast(World& world, const PerRank<Matrix>& in, int root, const std::string& label) {
  const char* op = ops::kBroadcast;
  check_rank_count(world, in, op, label);
  check_root(world, root, op, label);
  const int p = world.size();
  const Matrix& value = in[root];
  for (int r = 0; r < p; ++r) {
    const bool empty = in[r].rows() == 0 && in[r].cols() == 0;
    if (r != root && !empty && (in[r].rows() != value.rows() || in[r].cols() != value.cols()))
      throw std::invalid_argument(where(op, label) + ": rank " + std::to_string(r) + " passes a receive buffer of " +
                                  shape_string(in[r]) + " but root " + std::to_string(root) + " holds " +
                                  shape_string(value) + "; pass " + shape_string(value) + " or an empty (0, 0) matrix");
  }
  check_same_calls(world, in, CollectiveOp::Broadcast, root, -1, label);
  PerRank<Matrix> out = replicate(value, p);
  // NCCL's ring broadcast: root -> root+1 -> ... -> root-1; the last rank of
  // the chain forwards nothing and the root receives nothing.
  const std::int64_t bytes = kFloatBytes * elements(value);
  const int last = (root + p - 1) % p;
  std::vector<RankCost> cost(static_cast<std::size_t>(p));
  for (int r = 0; r < p && p > 1; ++r) {
    cost[static_cast<std::size_t>(r)].sent = r == last ? 0 : bytes;
    cost[static_cast<std::size_t>(r)].received = r == root ? 0 : bytes;
  }
  say(world, where(op, label) + ": rank " + std::to_string(root) + "'s " + shape_string(value) +
                 " to every rank along the ring");
  record(world, op, label, in, out, cost);
  return out;
}

PerRank<Matrix> gather(World& world, const PerRank<Matrix>& in, int root, Axis axis, const std::string& label) {
  const char* op = ops::kGather;
  check_rank_count(world, in, op, label);
  check_root(world, root, op, label);
  check_same_calls(world, in, CollectiveOp::Gather, root, axis_code(axis), label);
  const int p = world.size();
  PerRank<Matrix> out(p, Matrix(0, 0));
  out[root] = concat(in, axis);
  // Each non-root rank sends its block straight to the root (ncclSend/ncclRecv).
  const std::int64_t bytes = kFloatBytes * elements(in[0]);
  std::vector<RankCost> cost(static_cast<std::size_t>(p));
  for (int r = 0; r < p; ++r) {
    cost[static_cast<std::size_t>(r)].sent = r == root ? 0 : bytes;
    cost[static_cast<std::size_t>(r)].received = r == root ? bytes * (p - 1) : 0;
  }
  say(world, where(op, label) + ": " + std::to_string(p) + " x " + shape_string(in[0]) + " joined along " +
                 axis_name(axis) + " -> " + shape_string(out[root]) + " on rank " + std::to_string(root));
  record(world, op, label, in, out, cost);
  return out;
}

}  // namespace atp::sim
