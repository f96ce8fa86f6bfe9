/// \file collectives.hpp
/// \brief The collectives on device buffers, named like the simulator's
///        (atp::sim::all_reduce_rank_order, all_reduce_ring, all_gather,
///        reduce_scatter, broadcast, gather), with the communicator first as
///        the simulator takes its World first.
///
/// Three all-reduce forms (NUMERICS.md section 3):
///
/// | form      | how                                                | bits                                   |
/// |-----------|----------------------------------------------------|----------------------------------------|
/// | Native    | ncclAllReduce(sum)                                 | NCCL's order; = x0 + x1 only for p = 2 |
/// | RankOrder | ncclAllGather into [p][n] + rank-order sum kernel  | ((x0 + x1) + x2) + ..., every rank     |
/// | Ring      | ncclSend/ncclRecv steps of atp::sim::ring_schedule | chunk c: ((x[c+1] + x[c+2]) + ...) + x[c] |
/// | Tree      | log2 p ncclSend/ncclRecv swaps with rank r XOR 2^j + launch_add | the balanced tree over ranks (chapter 11) |
///
/// RankOrder and Ring move bits only through NCCL (which cannot round a
/// copy) and do every addition in our own kernels, so their order is ours.
///
/// Every function runs on comm.stream() and returns once that stream has
/// finished (Communicator::wait), so results can be read at once and a dead
/// peer shows up as a CudaError within the communicator's timeout. Buffers
/// are fp32 device pointers of this rank; counts are per rank.
///
/// Set ATP_COLLECTIVE_CHECK=1 to have every rank compare its call (op, count,
/// shape, root, axis, call index) with the others' before running it: ranks
/// that disagree then throw atp::sim::CollectiveMismatch naming both calls
/// instead of hanging (collective_check.hpp).
/// Chapter 11 adds the tree forms (tree_collectives.cpp): all_reduce_tree,
/// reduce_scatter_tree and the exact all_reduce_max, twins of the
/// simulator's functions of the same names.
/// all_reduce(..., AllReduceForm::Tree) is checked like the other forms.
///
/// Left out: other types and reductions, asynchronous (overlapped)
/// collectives, NCCL's own reduce-scatter and tree algorithms.
#pragma once

#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/sim/sharding.hpp"

#include <cstddef>
#include <string_view>

namespace atp::cuda {

using atp::sim::Axis;

/// Which all-reduce to run.
enum class AllReduceForm {
  Native,     ///< ncclAllReduce with ncclSum: fastest; NCCL chooses the order
  RankOrder,  ///< all-gather + ((x0 + x1) + ...) on every rank: the bitwise path
  Ring,       ///< one-channel ring in NCCL's step pattern, from point-to-point steps (chapter 1)
  Tree        ///< the balanced tree over ranks, recursive doubling (chapter 11; p a power of two)
};

/// "native", "rank-order", "ring" or "tree".
const char* to_string(AllReduceForm form);

/// Parses the names of to_string().
/// \throws std::invalid_argument naming the text and listing the valid forms.
AllReduceForm parse_all_reduce_form(std::string_view text);

// --- flat buffers ------------------------------------------------------------

/// In-place sum of `buf` (n floats) over all ranks, by `form`.
void all_reduce(Communicator& comm, float* buf, std::size_t n, AllReduceForm form);

/// ncclAllReduce(sum) in place.
void all_reduce_native(Communicator& comm, float* buf, std::size_t n);

/// In place: every rank gets ((x0 + x1) + x2) + ... + x[p-1] per element,
/// through ncclAllGather into workspace [p][n] and launch_rank_order_sum.
void all_reduce_rank_order(Communicator& comm, float* buf, std::size_t n);

/// In place, in NCCL's ring order: the 2 (p-1) steps of
/// atp::sim::ring_schedule(p, n), each one grouped ncclSend + ncclRecv per
/// rank; reduce-scatter steps then add `received + own` (launch_add).
void all_reduce_ring(Communicator& comm, float* buf, std::size_t n);

/// recv [p][n] = every rank's send (n), in rank order (ncclAllGather).
void all_gather(Communicator& comm, const float* send, std::size_t n, float* recv);

/// recv (n) = rank-order sum over ranks of block `rank` of their send [p][n]:
/// each rank sends block j to rank j (grouped ncclSend/ncclRecv, no rounding),
/// then sums the p blocks it received with launch_rank_order_sum.
void reduce_scatter(Communicator& comm, const float* send, std::size_t n, float* recv);

/// buf (n) on every rank = root's buf (ncclBroadcast in place).
void broadcast(Communicator& comm, float* buf, std::size_t n, int root);

/// recv [p][n] on root = every rank's send (n) in rank order: non-roots
/// ncclSend to root, root ncclRecv's from each (one group); root's own block
/// is a device copy. recv is ignored (may be null) on other ranks.
void gather(Communicator& comm, const float* send, std::size_t n, float* recv, int root);

/// In place, in the tree order (p a power of two): at level j this rank swaps
/// its running partial with rank r XOR 2^j (grouped ncclSend + ncclRecv) and
/// adds, the lower rank's partial first (launch_add); after log2 p levels
/// every rank holds atp::sim::tree_order_sum of the inputs.
/// \throws std::invalid_argument unless p is a power of two.
void all_reduce_tree(Communicator& comm, float* buf, std::size_t n);

/// recv (n) = the tree-order sum over ranks of block `rank` of their send
/// [p][n]: blocks exchanged directly (grouped ncclSend/ncclRecv), then
/// launch_tree_sum. \throws std::invalid_argument unless p is a power of two.
void reduce_scatter_tree(Communicator& comm, const float* send, std::size_t n, float* recv);

/// In place: every rank gets the element-wise atp::max_nan over ranks
/// (ncclAllGather into [p][n], then launch_max_reduce). Exact: any p, any order.
void all_reduce_max(Communicator& comm, float* buf, std::size_t n);

// --- matrices, mirroring atp::sim ---------------------------------------------

/// In-place all-reduce of this rank's matrix (same shape on every rank).
void all_reduce(Communicator& comm, DeviceMatrix& x, AllReduceForm form);

/// This rank's (R, C) joined with every rank's along `axis`: (p R, C) for
/// Axis::Rows, (R, p C) for Axis::Cols. Moves bits only.
DeviceMatrix all_gather(Communicator& comm, const DeviceMatrix& x, Axis axis);

/// Rank-order sum of every rank's (R, C), of which this rank keeps block
/// `rank` along `axis`: (R/p, C) or (R, C/p).
/// \throws std::invalid_argument unless p divides that dimension.
DeviceMatrix reduce_scatter(Communicator& comm, const DeviceMatrix& x, Axis axis);

/// reduce_scatter in the tree order: this rank's block of atp::sim::tree_order_sum.
/// \throws std::invalid_argument unless p is a power of two dividing that dimension.
DeviceMatrix reduce_scatter_tree(Communicator& comm, const DeviceMatrix& x, Axis axis);

/// In-place max all-reduce of this rank's matrix (all_reduce_max).
void all_reduce_max(Communicator& comm, DeviceMatrix& x);

/// x = root's x on every rank; x must already have root's shape everywhere.
void broadcast(Communicator& comm, DeviceMatrix& x, int root);

/// On root: every rank's (R, C) joined along `axis`; elsewhere an empty (0, 0).
DeviceMatrix gather(Communicator& comm, const DeviceMatrix& x, int root, Axis axis);

}  // namespace atp::cuda
