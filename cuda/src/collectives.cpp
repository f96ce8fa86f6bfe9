/// \file collectives.cpp
/// \brief The collectives of collectives.hpp: NCCL moves the bits, our
///        kernels do the additions, Communicator makes every wait bounded.
///
/// Nonblocking NCCL protocol, followed everywhere: every NCCL call's result
/// goes through Communicator::check_enqueue (which waits out ncclInProgress)
/// before the next NCCL call or kernel on the stream; every function ends
/// with Communicator::wait.
///
/// Every public function first calls check_same_call() (collective_check.hpp):
/// with ATP_COLLECTIVE_CHECK=1 the ranks compare what each is about to run,
/// and a mismatch is an error naming both calls instead of a hang. A function
/// that runs another (all_reduce -> the chosen form, a matrix function -> its
/// flat buffer) calls the other's `_unchecked` body, so each collective is
/// checked once, with the most detail (shape and axis for matrices).
#include "atp/cuda/collectives.hpp"

#include "atp/cuda/collective_check.hpp"
#include "atp/cuda/kernels.hpp"
#include "atp/sim/collective_call.hpp"
#include "atp/sim/ring_schedule.hpp"

#include "collective_helpers.hpp"

#include <nccl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace atp::cuda {
namespace {

using detail::check_buffer;
using detail::check_root;
using detail::copy_on_stream;
using detail::NcclGroup;
using detail::times;

using atp::sim::CollectiveOp;

int axis_code(Axis axis) { return axis == Axis::Rows ? 0 : 1; }

}  // namespace

const char* to_string(AllReduceForm form) {
  switch (form) {
    case AllReduceForm::Native: return "native";
    case AllReduceForm::RankOrder: return "rank-order";
    case AllReduceForm::Ring: return "ring";
    case AllReduceForm::Tree: return "tree";
  }
  return "?";
}

AllReduceForm parse_all_reduce_form(std::string_view text) {
  for (AllReduceForm f : {AllReduceForm::Native, AllReduceForm::RankOrder, AllReduceForm::Ring, AllReduceForm::Tree})
    if (text == to_string(f)) return f;
  throw std::invalid_argument("unknown all-reduce form '" + std::string(text) +
                              "'; valid forms: native, rank-order, ring, tree");
}

namespace {

CollectiveOp op_of(AllReduceForm form) {
  switch (form) {
    case AllReduceForm::Native: return CollectiveOp::AllReduceNative;
    case AllReduceForm::RankOrder: return CollectiveOp::AllReduceRankOrder;
    case AllReduceForm::Ring: return CollectiveOp::AllReduceRing;
    case AllReduceForm::Tree: return CollectiveOp::AllReduceTree;
  }
  throw std::invalid_argument("all_reduce: invalid AllReduceForm value " + std::to_string(static_cast<int>(form)));
}

// The three forms without the descriptor check (their callers check first).
void all_reduce_native_unchecked(Communicator& comm, float* buf, std::size_t n);
void all_reduce_rank_order_unchecked(Communicator& comm, float* buf, std::size_t n);
void all_reduce_ring_unchecked(Communicator& comm, float* buf, std::size_t n);

void all_reduce_unchecked(Communicator& comm, float* buf, std::size_t n, AllReduceForm form) {
  switch (form) {
    case AllReduceForm::Native: all_reduce_native_unchecked(comm, buf, n); return;
    case AllReduceForm::RankOrder: all_reduce_rank_order_unchecked(comm, buf, n); return;
    case AllReduceForm::Ring: all_reduce_ring_unchecked(comm, buf, n); return;
    case AllReduceForm::Tree: all_reduce_tree(comm, buf, n); return;
  }
  throw std::invalid_argument("all_reduce: invalid AllReduceForm value " + std::to_string(static_cast<int>(form)));
}

}  // namespace

void all_reduce(Communicator& comm, float* buf, std::size_t n, AllReduceForm form) {
  check_same_call(comm, flat_call(op_of(form), n), "all_reduce");
  all_reduce_unchecked(comm, buf, n, form);
}

void all_reduce_native(Communicator& comm, float* buf, std::size_t n) {
  check_same_call(comm, flat_call(CollectiveOp::AllReduceNative, n), "all_reduce_native");
  all_reduce_native_unchecked(comm, buf, n);
}

void all_reduce_rank_order(Communicator& comm, float* buf, std::size_t n) {
  check_same_call(comm, flat_call(CollectiveOp::AllReduceRankOrder, n), "all_reduce_rank_order");
  all_reduce_rank_order_unchecked(comm, buf, n);
}

void all_reduce_ring(Communicator& comm, float* buf, std::size_t n) {
  check_same_call(comm, flat_call(CollectiveOp::AllReduceRing, n), "all_reduce_ring");
  all_reduce_ring_unchecked(comm, buf, n);
}

namespace {

void all_reduce_native_unchecked(Communicator& comm, float* buf, std::size_t n) {
  comm.require_healthy("all_reduce_native");
  check_buffer(buf, n, "all_reduce_native", "buf");
  if (n == 0) return;
  comm.check_enqueue(ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, comm.nccl(), comm.stream()), "ncclAllReduce");
  comm.wait("all_reduce_native");
}

void all_reduce_rank_order_unchecked(Communicator& comm, float* buf, std::size_t n) {
  comm.require_healthy("all_reduce_rank_order");
  check_buffer(buf, n, "all_reduce_rank_order", "buf");
  const int p = comm.world_size();
  if (n == 0 || p == 1) return;  // p = 1: the sum of one term is that term
  float* gathered = comm.workspace(times(static_cast<std::size_t>(p), n, "all_reduce_rank_order"));
  comm.check_enqueue(ncclAllGather(buf, gathered, n, ncclFloat, comm.nccl(), comm.stream()),
                     "ncclAllGather (all_reduce_rank_order)");
  launch_rank_order_sum(gathered, buf, p, n, comm.stream());
  comm.wait("all_reduce_rank_order");
}

void all_reduce_ring_unchecked(Communicator& comm, float* buf, std::size_t n) {
  comm.require_healthy("all_reduce_ring");
  check_buffer(buf, n, "all_reduce_ring", "buf");
  const int p = comm.world_size();
  const int r = comm.rank();
  if (n == 0 || p == 1) return;
  const auto steps = atp::sim::ring_schedule(p, static_cast<std::int64_t>(n));
  float* received = comm.workspace(static_cast<std::size_t>(atp::sim::ring_chunk_size(p, static_cast<std::int64_t>(n))));

  // Steps come ordered by (phase, step, sender); in each, this rank sends one
  // chunk to r+1 and receives another from r-1.
  for (std::size_t first = 0; first < steps.size(); first += static_cast<std::size_t>(p)) {
    const atp::sim::RingStep* send = nullptr;
    const atp::sim::RingStep* recv = nullptr;
    for (std::size_t k = first; k < first + static_cast<std::size_t>(p); ++k) {
      if (steps[k].src == r) send = &steps[k];
      if (steps[k].dst == r) recv = &steps[k];
    }
    if (send == nullptr || recv == nullptr)
      throw std::logic_error("all_reduce_ring: ring_schedule has no send or receive for rank " + std::to_string(r));
    const bool reduce = recv->phase == atp::sim::RingPhase::ReduceScatter;
    const auto send_len = static_cast<std::size_t>(send->end - send->begin);
    const auto recv_len = static_cast<std::size_t>(recv->end - recv->begin);
    float* recv_dst = reduce ? received : buf + recv->begin;

    // Empty chunks (p does not divide n) are skipped on both sides alike:
    // sender and receiver see the same chunk bounds.
    NcclGroup group(comm);
    if (send_len > 0)
      comm.check_enqueue(ncclSend(buf + send->begin, send_len, ncclFloat, send->dst, comm.nccl(), comm.stream()),
                         "ncclSend (all_reduce_ring)");
    if (recv_len > 0)
      comm.check_enqueue(ncclRecv(recv_dst, recv_len, ncclFloat, recv->src, comm.nccl(), comm.stream()),
                         "ncclRecv (all_reduce_ring)");
    group.end("ncclGroupEnd (all_reduce_ring step)");
    // Reduce-scatter: own value v becomes received + v (the running sum
    // grows to the left, as atp::sim::all_reduce_ring does it).
    if (reduce && recv_len > 0)
      launch_add(received, buf + recv->begin, buf + recv->begin, recv_len, comm.stream());
  }
  comm.wait("all_reduce_ring");
}

void all_gather_unchecked(Communicator& comm, const float* send, std::size_t n, float* recv) {
  comm.require_healthy("all_gather");
  check_buffer(send, n, "all_gather", "send");
  check_buffer(recv, n, "all_gather", "recv");
  if (n == 0) return;
  comm.check_enqueue(ncclAllGather(send, recv, n, ncclFloat, comm.nccl(), comm.stream()), "ncclAllGather");
  comm.wait("all_gather");
}

void reduce_scatter_unchecked(Communicator& comm, const float* send, std::size_t n, float* recv) {
  comm.require_healthy("reduce_scatter");
  check_buffer(send, n, "reduce_scatter", "send");
  check_buffer(recv, n, "reduce_scatter", "recv");
  const int p = comm.world_size();
  if (n == 0) return;
  if (p == 1) {
    copy_on_stream(comm, recv, send, n);
    comm.wait("reduce_scatter");
    return;
  }
  float* blocks = comm.workspace(times(static_cast<std::size_t>(p), n, "reduce_scatter"));
  NcclGroup group(comm);
  for (int j = 0; j < p; ++j) {
    // Block j of every rank goes to rank j (to itself too: NCCL copies).
    comm.check_enqueue(ncclSend(send + static_cast<std::size_t>(j) * n, n, ncclFloat, j, comm.nccl(), comm.stream()),
                       "ncclSend (reduce_scatter)");
    comm.check_enqueue(ncclRecv(blocks + static_cast<std::size_t>(j) * n, n, ncclFloat, j, comm.nccl(), comm.stream()),
                       "ncclRecv (reduce_scatter)");
  }
  group.end("ncclGroupEnd (reduce_scatter)");
  launch_rank_order_sum(blocks, recv, p, n, comm.stream());
  comm.wait("reduce_scatter");
}

void broadcast_unchecked(Communicator& comm, float* buf, std::size_t n, int root) {
  comm.require_healthy("broadcast");
  check_root(comm, root, "broadcast");
  check_buffer(buf, n, "broadcast", "buf");
  if (n == 0) return;
  comm.check_enqueue(ncclBroadcast(buf, buf, n, ncclFloat, root, comm.nccl(), comm.stream()), "ncclBroadcast");
  comm.wait("broadcast");
}

void gather_unchecked(Communicator& comm, const float* send, std::size_t n, float* recv, int root) {
  comm.require_healthy("gather");
  check_root(comm, root, "gather");
  check_buffer(send, n, "gather", "send");
  const int p = comm.world_size();
  const bool is_root = comm.rank() == root;
  if (is_root) check_buffer(recv, n, "gather", "recv (on root)");
  if (n == 0) return;
  if (is_root) copy_on_stream(comm, recv + static_cast<std::size_t>(root) * n, send, n);
  if (p > 1) {
    NcclGroup group(comm);
    if (is_root) {
      for (int j = 0; j < p; ++j)
        if (j != root)
          comm.check_enqueue(
              ncclRecv(recv + static_cast<std::size_t>(j) * n, n, ncclFloat, j, comm.nccl(), comm.stream()),
              "ncclRecv (gather)");
    } else {
      comm.check_enqueue(ncclSend(send, n, ncclFloat, root, comm.nccl(), comm.stream()), "ncclSend (gather)");
    }
    group.end("ncclGroupEnd (gather)");
  }
  comm.wait("gather");
}

}  // namespace

// --- flat buffers, checked first ---------------------------------------------

void all_gather(Communicator& comm, const float* send, std::size_t n, float* recv) {
  check_same_call(comm, flat_call(CollectiveOp::AllGather, n), "all_gather");
  all_gather_unchecked(comm, send, n, recv);
}

void reduce_scatter(Communicator& comm, const float* send, std::size_t n, float* recv) {
  check_same_call(comm, flat_call(CollectiveOp::ReduceScatter, n), "reduce_scatter");
  reduce_scatter_unchecked(comm, send, n, recv);
}

void broadcast(Communicator& comm, float* buf, std::size_t n, int root) {
  check_same_call(comm, flat_call(CollectiveOp::Broadcast, n, root), "broadcast");
  broadcast_unchecked(comm, buf, n, root);
}

void gather(Communicator& comm, const float* send, std::size_t n, float* recv, int root) {
  check_same_call(comm, flat_call(CollectiveOp::Gather, n, root), "gather");
  gather_unchecked(comm, send, n, recv, root);
}

// --- matrices: checked with their shape and axis --------------------------------

void all_reduce(Communicator& comm, DeviceMatrix& x, AllReduceForm form) {
  check_same_call(comm, matrix_call(op_of(form), x, -1), "all_reduce");
  all_reduce_unchecked(comm, x.data(), x.size(), form);
}

DeviceMatrix all_gather(Communicator& comm, const DeviceMatrix& x, Axis axis) {
  check_same_call(comm, matrix_call(CollectiveOp::AllGather, x, axis_code(axis)), "all_gather");
  const int p = comm.world_size();
  const std::int64_t R = x.rows();
  const std::int64_t C = x.cols();
  if (axis == Axis::Rows) {
    DeviceMatrix out(p * R, C);  // [p][R][C] is (p R, C) row-major
    all_gather_unchecked(comm, x.data(), x.size(), out.data());
    return out;
  }
  DeviceMatrix blocks(p * R, C);
  all_gather_unchecked(comm, x.data(), x.size(), blocks.data());
  DeviceMatrix out(R, p * C);
  launch_blocks_to_cols(blocks.data(), out.data(), x.rows(), x.cols(), p, comm.stream());
  comm.wait("all_gather (columns)");
  return out;
}

DeviceMatrix reduce_scatter(Communicator& comm, const DeviceMatrix& x, Axis axis) {
  check_same_call(comm, matrix_call(CollectiveOp::ReduceScatter, x, axis_code(axis)), "reduce_scatter");
  const int p = comm.world_size();
  if (axis == Axis::Rows) {
    const std::int64_t rows = atp::sim::divide(x.rows(), p, "reduce_scatter: rows of " + x.shape());
    DeviceMatrix out(rows, x.cols());
    reduce_scatter_unchecked(comm, x.data(), out.size(), out.data());
    return out;
  }
  const std::int64_t cols = atp::sim::divide(x.cols(), p, "reduce_scatter: cols of " + x.shape());
  DeviceMatrix blocks(static_cast<std::int64_t>(p) * x.rows(), cols);  // [p][R][C/p]
  launch_cols_to_blocks(x.data(), blocks.data(), x.rows(), static_cast<int>(cols), p, comm.stream());
  DeviceMatrix out(x.rows(), cols);
  reduce_scatter_unchecked(comm, blocks.data(), out.size(), out.data());
  return out;
}

void broadcast(Communicator& comm, DeviceMatrix& x, int root) {
  check_same_call(comm, matrix_call(CollectiveOp::Broadcast, x, -1, root), "broadcast");
  broadcast_unchecked(comm, x.data(), x.size(), root);
}

DeviceMatrix gather(Communicator& comm, const DeviceMatrix& x, int root, Axis axis) {
  check_root(comm, root, "gather");
  check_same_call(comm, matrix_call(CollectiveOp::Gather, x, axis_code(axis), root), "gather");
  const int p = comm.world_size();
  const bool is_root = comm.rank() == root;
  const std::int64_t R = x.rows();
  const std::int64_t C = x.cols();
  if (!is_root) {
    gather_unchecked(comm, x.data(), x.size(), nullptr, root);
    return DeviceMatrix();
  }
  DeviceMatrix blocks(p * R, C);
  gather_unchecked(comm, x.data(), x.size(), blocks.data(), root);
  if (axis == Axis::Rows) return blocks;
  DeviceMatrix out(R, p * C);
  launch_blocks_to_cols(blocks.data(), out.data(), x.rows(), x.cols(), p, comm.stream());
  comm.wait("gather (columns)");
  return out;
}

}  // namespace atp::cuda
