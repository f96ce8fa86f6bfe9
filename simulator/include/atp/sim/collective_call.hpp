/// \file collective_call.hpp
/// \brief What one rank asked a collective to do, and the check that every
///        rank asked for the same thing: the simulator's shape checks and the
///        GPU's ATP_COLLECTIVE_CHECK debug mode share it.
///
/// A collective is a promise that every rank makes the same call: the same
/// op, the same element count and type, the same root and axis, as the same
/// call in each rank's sequence. On GPUs, breaking it does not fail: NCCL
/// waits for a partner that never comes (a hang) or moves the wrong bytes.
/// PyTorch's TORCH_DISTRIBUTED_DEBUG=DETAIL answers this by comparing a
/// fingerprint of each collective across ranks before running it
/// (CollectiveFingerPrint in torch/csrc/distributed/c10d/ProcessGroupWrapper.cpp);
/// this book does the same
/// with a CollectiveCall of eight int64 words (to_wire()), and both sides
/// report a disagreement with require_matching_calls(), which names both
/// calls:
///
///     rank 0 of 2 (CUDA device 0): rank 1 called all_gather #7 of 16 float32,
///     but rank 0 called all_reduce_ring #7 of 16 float32; every rank must make the same call ...
///
/// Where ranks can disagree:
///  - on GPUs (cuda/src/collectives.cpp), in everything: each rank is its
///    own process calling whatever its code reaches;
///  - in the simulator, only in what each rank passes: one call of
///    atp::sim::all_gather(world, x, axis, label) stands for all p ranks, so
///    the op, root, axis and call order are one value by construction and
///    cannot differ. What can differ is the per-rank data: a PerRank with
///    matrices of different shapes (a layer bug), or a broadcast receive buffer
///    of the wrong shape. Those are checked with the same descriptor.
///
/// Leaves out: checking the data itself (that is what the bitwise tests do),
/// and the order of calls across several communicators.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace atp::sim {

/// Every collective either side can run.
enum class CollectiveOp : std::int64_t {
  AllReduceRankOrder = 1,  ///< all_reduce_rank_order
  AllReduceRing = 2,       ///< all_reduce_ring
  AllReduceNative = 3,     ///< ncclAllReduce (GPU only)
  AllGather = 4,           ///< all_gather
  ReduceScatter = 5,       ///< reduce_scatter
  Broadcast = 6,           ///< broadcast
  Gather = 7,              ///< gather
  AllReduceTree = 8        ///< all_reduce_tree (chapter 11's tree order)
};

/// "all_reduce_rank_order", "all_gather", ...: the trace's op names (collectives.hpp ops::).
const char* op_name(CollectiveOp op);

/// What one rank passed to one collective call.
struct CollectiveCall {
  CollectiveOp op = CollectiveOp::AllReduceRankOrder;  ///< which collective
  std::int64_t count = 0;   ///< elements this rank passes (its send buffer)
  std::int64_t rows = -1;   ///< its matrix's rows; -1 for a flat buffer
  std::int64_t cols = -1;   ///< its matrix's columns; -1 for a flat buffer
  std::int64_t dtype = 1;   ///< element type: 1 = float32 (the only one yet), 2 = int64
  std::int64_t root = -1;   ///< broadcast/gather root; -1 for the others
  std::int64_t axis = -1;   ///< 0 rows, 1 columns (all_gather, reduce_scatter, gather); -1 none
  std::int64_t index = 0;   ///< how many collectives this rank called before this one

  /// Same in every field.
  bool operator==(const CollectiveCall&) const = default;
};

/// Words of the fixed-size form exchanged between GPU ranks.
inline constexpr std::size_t kCollectiveCallWords = 8;

/// The call as 8 int64 words: a tag, op, count, rows, cols, dtype, root and
/// axis (32 bits each, one word), index.
std::array<std::int64_t, kCollectiveCallWords> to_wire(const CollectiveCall& call);

/// The inverse of to_wire(). \throws std::invalid_argument naming `rank` if the
/// words are not a CollectiveCall (wrong tag or an unknown op): a rank that ran
/// something other than the check's own all-gather.
CollectiveCall from_wire(const std::array<std::int64_t, kCollectiveCallWords>& words, int rank);

/// "all_gather #7 of 16 float32 (2, 8) along cols": a call for messages.
std::string describe(const CollectiveCall& call);

/// Thrown when ranks made (or plan, collective_plan.hpp) different collective calls: on real
/// GPUs a hang. A std::invalid_argument.
class CollectiveMismatch : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Does nothing if every rank's call equals rank 0's; otherwise throws
/// CollectiveMismatch "<where>: rank r called <its call>, but rank 0 called
/// <rank 0's call>; every rank must make the same call ..." for the first such r.
void require_matching_calls(const std::vector<CollectiveCall>& calls, const std::string& where);

}  // namespace atp::sim
