/// \file book_forms.hpp
/// \brief The book's own collectives priced by latency + bandwidth
///        (alpha-beta): the rank-order one-shot all-reduce and NCCL's ring,
///        as the simulator runs them, from the bytes its trace records.
///
/// Legend: p = ranks, alpha0 = launch latency per call, alpha = latency of
/// one sequential step, B = link bandwidth per GPU and direction, and
/// S_r = the larger of the bytes rank r sends and receives in the call.
///
///     t = alpha0 + steps(op, p) * alpha + max_r S_r / B
///
/// | trace op              | steps     | why                                           |
/// |-----------------------|-----------|-----------------------------------------------|
/// | all_reduce_rank_order | 1         | every rank reads the p-1 other inputs at once (one-shot) |
/// | all_reduce_ring       | 2(p-1)    | reduce-scatter then all-gather around the ring |
/// | all_gather            | p-1       | ring all-gather                               |
/// | reduce_scatter        | 1         | blocks exchanged directly                     |
/// | broadcast             | p-1       | a chain root, root+1, ... (one chunk)         |
/// | gather                | 1         | every rank sends to the root at once          |
///
/// The tree forms of chapter 11 (all_reduce_tree, reduce_scatter_tree) take
/// log2(p) steps, all_reduce_max one. The two all-reduces are priced by issue
/// 9's alpha-beta model (alpha_beta.hpp: OneShot for rank order, Ring for the
/// ring) from the message size, on the profile's link of
/// simulator/data/hardware.json; the bytes the trace records per rank are
/// exactly that model's. The other collectives use the table above with the
/// same link figures. Leaves out: channels, protocols and pipelining (see
/// nccl_model.hpp for NCCL's own model), and contention.
#pragma once

#include "atp/sim/alpha_beta.hpp"

#include <string>

namespace atp::cost {

/// Sequential steps of the book's form of trace op `op` over p ranks.
/// \throws std::invalid_argument naming the op and the known ops if it is not a collective the book has.
int book_steps(const std::string& op, int p);

/// The alpha-beta time in seconds of one collective call on `link`, 0 at p = 1 (nothing is called).
/// The two all-reduces: sim::all_reduce_time(OneShot or Ring, p, message_bytes, link); the others:
/// alpha0 + steps * alpha + max_bytes / B, max_bytes the most bytes any rank sent or received.
/// \throws std::invalid_argument as book_steps(), or for negative bytes.
double book_collective_seconds(const std::string& op, int p, double message_bytes, double max_bytes,
                               const sim::LinkProfile& link);

}  // namespace atp::cost
