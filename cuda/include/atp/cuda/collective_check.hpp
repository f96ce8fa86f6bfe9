/// \file collective_check.hpp
/// \brief ATP_COLLECTIVE_CHECK=1: before each collective the ranks exchange
///        what each is about to run, and a mismatch is an error naming both
///        calls instead of a hang (the GPU side of atp/sim/collective_call.hpp).
///
/// NCCL trusts every rank to make the same call. If rank 1 runs all_gather
/// while rank 0 runs all_reduce_ring, or passes another count or root, NCCL
/// waits for a partner that never comes (here: until the communicator's
/// deadline, then a timeout that says nothing about why) or moves the wrong
/// bytes. In debug mode, like PyTorch's TORCH_DISTRIBUTED_DEBUG=DETAIL
/// (torch/csrc/distributed/c10d/ProcessGroupWrapper.cpp compares a
/// CollectiveFingerPrint of op type and input shapes over a separate Gloo
/// group; here the descriptor goes over the NCCL communicator itself),
/// check_same_call() first all-gathers a CollectiveCall of 8 int64 words from
/// every rank (op, element count, dtype, shape, root, axis and this rank's
/// index among its collectives) and throws atp::sim::CollectiveMismatch on
/// every rank when they differ:
///
///     all_gather on rank 0 of 2 (CUDA device 0) (ATP_COLLECTIVE_CHECK): rank 1 called
///     all_reduce_ring #3 of 1003 float32, but rank 0 called all_gather #3 of 1003 float32; ...
///
/// The exchange itself is a fixed-size all-gather that every rank reaches as
/// soon as it reaches any collective, so it cannot mismatch; a rank that
/// never reaches one is still caught by the communicator's deadline. Cost:
/// one 64-byte-per-rank all-gather and a host round trip per collective, so
/// the mode is off unless ATP_COLLECTIVE_CHECK=1.
///
/// Leaves out: checking the data, several communicators per process (the call
/// index is counted per Communicator object).
#pragma once

#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/sim/collective_call.hpp"

#include <cstddef>

namespace atp::cuda {

/// True if ATP_COLLECTIVE_CHECK is "1"; false if unset, empty or "0".
/// \throws std::invalid_argument naming the value for anything else.
bool collective_check_enabled();

/// The descriptor of a collective on a flat buffer of `n` float32 elements.
atp::sim::CollectiveCall flat_call(atp::sim::CollectiveOp op, std::size_t n, int root = -1);

/// The descriptor of a collective on this rank's matrix `x`, with its shape,
/// `axis` (0 rows, 1 cols, -1 none) and `root` (-1 none).
atp::sim::CollectiveCall matrix_call(atp::sim::CollectiveOp op, const DeviceMatrix& x, int axis, int root = -1);

/// Does nothing unless collective_check_enabled() and p > 1. Otherwise numbers
/// `call` (its index among this communicator's checked calls), all-gathers
/// every rank's descriptor and compares them.
/// \throws atp::sim::CollectiveMismatch naming `who`, this rank and both calls;
///         CudaError if the exchange itself fails or times out.
void check_same_call(Communicator& comm, atp::sim::CollectiveCall call, const char* who);

}  // namespace atp::cuda
