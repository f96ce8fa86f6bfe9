/// \file collective_call.cpp
/// \brief CollectiveCall: names, the wire form, the description, the check.
#include "atp/sim/collective_call.hpp"

namespace atp::sim {

namespace {
// "ATPCOLL\1": a word no float32 or int64 tensor data would put first by chance.
constexpr std::int64_t kTag = 0x41545043'4f4c4c01;
}  // namespace

const char* op_name(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::AllReduceRankOrder: return "all_reduce_rank_order";
    case CollectiveOp::AllReduceRing: return "all_reduce_ring";
    case CollectiveOp::AllReduceNative: return "all_reduce_native";
    case CollectiveOp::AllGather: return "all_gather";
    case CollectiveOp::ReduceScatter: return "reduce_scatter";
    case CollectiveOp::Broadcast: return "broadcast";
    case CollectiveOp::Gather: return "gather";
    case CollectiveOp::AllReduceTree: return "all_reduce_tree";
  }
  return "unknown collective";
}

std::array<std::int64_t, kCollectiveCallWords> to_wire(const CollectiveCall& call) {
  // The root and axis share a word (each fits in 32 bits) so the index keeps its own.
  const auto low = static_cast<std::uint64_t>(static_cast<std::uint32_t>(call.root));
  const auto high = static_cast<std::uint64_t>(static_cast<std::uint32_t>(call.axis)) << 32;
  const auto root_axis = static_cast<std::int64_t>(high | low);
  return {kTag, static_cast<std::int64_t>(call.op), call.count, call.rows, call.cols, call.dtype, root_axis, call.index};
}

CollectiveCall from_wire(const std::array<std::int64_t, kCollectiveCallWords>& w, int rank) {
  const std::int64_t op = w[1];
  if (w[0] != kTag || op < 1 || op > 8)
    throw std::invalid_argument("rank " + std::to_string(rank) +
                                " sent something that is not a collective descriptor: it is not running the "
                                "ATP_COLLECTIVE_CHECK exchange at this point (a different collective, or no check)");
  CollectiveCall c;
  c.op = static_cast<CollectiveOp>(op);
  c.count = w[2];
  c.rows = w[3];
  c.cols = w[4];
  c.dtype = w[5];
  const auto root_axis = static_cast<std::uint64_t>(w[6]);
  c.root = static_cast<std::int32_t>(static_cast<std::uint32_t>(root_axis & 0xffffffffu));
  c.axis = static_cast<std::int32_t>(static_cast<std::uint32_t>(root_axis >> 32));
  c.index = w[7];
  return c;
}

std::string describe(const CollectiveCall& c) {
  std::string s = std::string(op_name(c.op)) + " #" + std::to_string(c.index) + " of " + std::to_string(c.count) +
                  (c.dtype == 1 ? " float32" : c.dtype == 2 ? " int64" : " (dtype " + std::to_string(c.dtype) + ")");
  if (c.rows >= 0) s += " (" + std::to_string(c.rows) + ", " + std::to_string(c.cols) + ")";
  if (c.axis == 0) s += " along rows";
  if (c.axis == 1) s += " along cols";
  if (c.root >= 0) s += " with root " + std::to_string(c.root);
  return s;
}

void require_matching_calls(const std::vector<CollectiveCall>& calls, const std::string& where) {
  for (std::size_t r = 1; r < calls.size(); ++r)
    if (!(calls[r] == calls[0]))
      throw CollectiveMismatch(where + ": rank " + std::to_string(r) + " called " + describe(calls[r]) +
                               ", but rank 0 called " + describe(calls[0]) +
                               "; every rank must make the same call (same collective, element count and type, "
                               "shape, root and axis, in the same order)");
}

}  // namespace atp::sim
