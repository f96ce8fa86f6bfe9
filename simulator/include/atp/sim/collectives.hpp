/// \file collectives.hpp
/// \brief The collectives of the simulator: all-reduce (rank order and ring),
///        all-gather, reduce-scatter, broadcast, gather.
///
/// Each takes the World first and one matrix per rank, returns one matrix per
/// rank, records one TraceEvent per rank (bytes and adds as the algorithm
/// really performs them) and, in narrated mode, prints what it does. Every
/// rank must pass a matrix of the same shape (NCCL moves equal counts on every
/// rank); a violation throws atp::sim::CollectiveMismatch (a
/// std::invalid_argument) naming both ranks' calls, as the GPU's
/// ATP_COLLECTIVE_CHECK mode does (collective_call.hpp). The op, root, axis
/// and call order cannot differ between ranks here: one call stands for all
/// p ranks, so they are a single value by construction.
/// p = 1 is the identity path: outputs equal inputs, zero bytes recorded.
///
/// Byte model per rank, for a per-rank input of N fp32 elements (4N bytes):
///
/// | collective            | model                                      | sent per rank           | received per rank      |
/// |-----------------------|--------------------------------------------|-------------------------|------------------------|
/// | all_reduce_rank_order | ring all-gather of the inputs + local sum  | 4N (p-1)                | 4N (p-1)               |
/// | all_reduce_ring       | NCCL ring, ring_schedule()                 | 4 * its 2(p-1) chunks   | same (8N(p-1)/p if p divides N) |
/// | all_gather            | ring all-gather                            | 4N (p-1)                | 4N (p-1)               |
/// | reduce_scatter        | blocks exchanged directly + local sum      | 4N (p-1)/p              | 4N (p-1)/p             |
/// | broadcast             | NCCL ring broadcast root, root+1, ...      | 4N, except rank root-1: 0 | 4N, except root: 0   |
/// | gather                | every non-root sends to root (ncclSend)    | 4N, root: 0             | root: 4N (p-1), others 0 |
///
/// Flops recorded are the additions a rank performs: (p-1) N for the rank-order
/// all-reduce (every rank sums all p inputs), the elements it receives in the
/// reduce-scatter phase of the ring, (p-1) N/p for reduce_scatter, 0 otherwise.
/// The rank-order all-reduce moves p/2 times the bytes of the ring but in one
/// step instead of 2(p-1): for the small messages of inference it is the faster
/// form (vLLM's one-shot custom all-reduce; alpha_beta.hpp prices both).
#pragma once

#include "atp/sim/per_rank.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <string>

namespace atp::sim {

/// The op names collectives write into the trace (use them in Trace::count).
namespace ops {
inline constexpr const char* kAllReduceRankOrder = "all_reduce_rank_order";  ///< all_reduce_rank_order()
inline constexpr const char* kAllReduceRing = "all_reduce_ring";              ///< all_reduce_ring()
inline constexpr const char* kAllGather = "all_gather";                       ///< all_gather()
inline constexpr const char* kReduceScatter = "reduce_scatter";               ///< reduce_scatter()
inline constexpr const char* kBroadcast = "broadcast";                        ///< broadcast()
inline constexpr const char* kGather = "gather";                              ///< gather()
inline constexpr const char* kAllReduceTree = "all_reduce_tree";              ///< all_reduce_tree()
inline constexpr const char* kReduceScatterTree = "reduce_scatter_tree";      ///< reduce_scatter_tree()
inline constexpr const char* kAllReduceMax = "all_reduce_max";                ///< all_reduce_max()
}  // namespace ops

/// The deterministic sum of the bitwise path: element-wise
/// ((x[0] + x[1]) + x[2]) + ... + x[p-1]. The GPU's summing kernel follows it.
/// Throws std::invalid_argument if the shapes differ (names the rank) or x is empty.
Matrix rank_order_sum(const PerRank<Matrix>& x);

/// All-reduce in rank order (NUMERICS.md section 3, the bitwise path): every
/// rank gets rank_order_sum(in). Shape (R, C) per rank in and out.
PerRank<Matrix> all_reduce_rank_order(World& world, const PerRank<Matrix>& in, const std::string& label);

/// All-reduce as a one-channel ring in NCCL's step pattern, run step by step from ring_schedule():
/// every rank gets the same matrix; element i of chunk c is
/// ((x[c+1] + x[c+2]) + ...) + x[c]. Shape (R, C) per rank in and out.
/// Equal in bits to all_reduce_rank_order for p <= 2, generally not for p >= 3.
PerRank<Matrix> all_reduce_ring(World& world, const PerRank<Matrix>& in, const std::string& label);

/// All-gather: every rank gets the p inputs concatenated in rank order along
/// `axis`: (p R, C) for Axis::Rows, (R, p C) for Axis::Cols. Moves bits only.
PerRank<Matrix> all_gather(World& world, const PerRank<Matrix>& in, Axis axis, const std::string& label);

/// Reduce-scatter: the rank-order sum of the inputs, of which rank r keeps
/// block r along `axis`: (R/p, C) for Axis::Rows, (R, C/p) for Axis::Cols.
/// Throws unless p divides that dimension.
PerRank<Matrix> reduce_scatter(World& world, const PerRank<Matrix>& in, Axis axis, const std::string& label);

/// Broadcast: every rank gets root's matrix. Other ranks pass a receive buffer
/// of root's shape, or an empty (0, 0) matrix; its contents are ignored.
/// Throws unless 0 <= root < p.
PerRank<Matrix> broadcast(World& world, const PerRank<Matrix>& in, int root, const std::string& label);

/// Gather: root gets the inputs concatenated in rank order along `axis`;
/// every other rank gets an empty (0, 0) matrix. Throws unless 0 <= root < p.
PerRank<Matrix> gather(World& world, const PerRank<Matrix>& in, int root, Axis axis, const std::string& label);

// --- the tree order (chapter 11; tree_collectives.cpp) ------------------------
//
// | collective          | model                                          | sent = received per rank |
// |---------------------|------------------------------------------------|--------------------------|
// | all_reduce_tree     | recursive doubling: log2 p exchanges with r XOR 2^j | 4N log2 p            |
// | reduce_scatter_tree | blocks exchanged directly + local tree sum     | 4N (p-1)/p               |
// | all_reduce_max      | ring all-gather of the inputs + local maximum  | 4N (p-1)                 |
//
// Flops: N per exchange step (all_reduce_tree), (p-1) N/p (reduce_scatter_tree),
// (p-1) N comparisons (all_reduce_max). The tree forms need p to be a power of two.

/// The balanced binary tree over the ranks, element by element
/// (atp/tree_order.hpp): level j adds rank blocks of 2^j pairwise, lower block first.
/// Throws std::invalid_argument unless p is a power of two and the shapes agree.
Matrix tree_order_sum(const PerRank<Matrix>& x);

/// All-reduce in the tree order: every rank gets tree_order_sum(in), computed
/// step by step as p GPUs would: at level j each rank r swaps its running
/// partial with rank r XOR 2^j and adds (lower rank's partial first), so after
/// log2 p steps all ranks hold the root. These are the upper levels of the
/// blocked tree order. Throws unless p is a power of two (names p, lists valid p).
PerRank<Matrix> all_reduce_tree(World& world, const PerRank<Matrix>& in, const std::string& label);

/// Reduce-scatter in the tree order: rank r keeps block r along `axis` of
/// tree_order_sum(in), bitwise equal to that block of all_reduce_tree.
/// Throws unless p is a power of two that divides that dimension.
PerRank<Matrix> reduce_scatter_tree(World& world, const PerRank<Matrix>& in, Axis axis, const std::string& label);

/// All-reduce of the element-wise maximum (atp::max_nan): exact, so every
/// order and every p gives the same bits. Any p >= 1.
PerRank<Matrix> all_reduce_max(World& world, const PerRank<Matrix>& in, const std::string& label);

}  // namespace atp::sim
