/// \file tree_collectives.cpp
/// \brief The tree-order collectives on the GPU (chapter 11): the tree
///        all-reduce by recursive doubling, the tree reduce-scatter, and the
///        exact max all-reduce. NCCL moves bits; our kernels add.
///
/// The same nonblocking protocol as collectives.cpp: every NCCL result goes
/// through Communicator::check_enqueue, every function ends with wait().
#include "atp/cuda/collectives.hpp"
#include "atp/cuda/kernels.hpp"
#include "atp/cuda/tree_kernels.hpp"
#include "atp/matmul_tree.hpp"
#include "atp/tree_order.hpp"

#include "collective_helpers.hpp"

#include <nccl.h>

#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

using detail::check_buffer;
using detail::copy_on_stream;
using detail::NcclGroup;
using detail::times;

void check_power_of_two(const Communicator& comm, const char* who) {
  const int p = comm.world_size();
  if (!atp::is_power_of_two(p) || p > atp::kMaxTreeLeaves)
    throw std::invalid_argument(std::string(who) + ": p = " + std::to_string(p) +
                                " ranks; the tree order pairs ranks level by level, so p must be a power of two "
                                "(valid: " + atp::valid_tree_tp_list(atp::kMaxTreeLeaves) + ")");
}

}  // namespace

void all_reduce_tree(Communicator& comm, float* buf, std::size_t n) {
  comm.require_healthy("all_reduce_tree");
  check_power_of_two(comm, "all_reduce_tree");
  check_buffer(buf, n, "all_reduce_tree", "buf");
  const int p = comm.world_size(), r = comm.rank();
  if (n == 0 || p == 1) return;  // p = 1: the tree over one leaf is the leaf
  float* received = comm.workspace(n);
  for (int width = 1; width < p; width *= 2) {
    const int partner = r ^ width;
    NcclGroup group(comm);
    comm.check_enqueue(ncclSend(buf, n, ncclFloat, partner, comm.nccl(), comm.stream()), "ncclSend (all_reduce_tree)");
    comm.check_enqueue(ncclRecv(received, n, ncclFloat, partner, comm.nccl(), comm.stream()),
                       "ncclRecv (all_reduce_tree)");
    group.end("ncclGroupEnd (all_reduce_tree level)");
    // The lower rank block's partial first, as atp::sim::all_reduce_tree: both partners run one operation.
    if (r < partner)
      launch_add(buf, received, buf, n, comm.stream());
    else
      launch_add(received, buf, buf, n, comm.stream());
  }
  comm.wait("all_reduce_tree");
}

void reduce_scatter_tree(Communicator& comm, const float* send, std::size_t n, float* recv) {
  comm.require_healthy("reduce_scatter_tree");
  check_power_of_two(comm, "reduce_scatter_tree");
  check_buffer(send, n, "reduce_scatter_tree", "send");
  check_buffer(recv, n, "reduce_scatter_tree", "recv");
  const int p = comm.world_size();
  if (n == 0) return;
  if (p == 1) {
    copy_on_stream(comm, recv, send, n);
    comm.wait("reduce_scatter_tree");
    return;
  }
  float* blocks = comm.workspace(times(static_cast<std::size_t>(p), n, "reduce_scatter_tree"));
  NcclGroup group(comm);
  for (int j = 0; j < p; ++j) {
    // Block j of every rank goes to rank j (to itself too: NCCL copies).
    comm.check_enqueue(ncclSend(send + static_cast<std::size_t>(j) * n, n, ncclFloat, j, comm.nccl(), comm.stream()),
                       "ncclSend (reduce_scatter_tree)");
    comm.check_enqueue(ncclRecv(blocks + static_cast<std::size_t>(j) * n, n, ncclFloat, j, comm.nccl(), comm.stream()),
                       "ncclRecv (reduce_scatter_tree)");
  }
  group.end("ncclGroupEnd (reduce_scatter_tree)");
  launch_tree_sum(blocks, recv, p, n, comm.stream());
  comm.wait("reduce_scatter_tree");
}

void all_reduce_max(Communicator& comm, float* buf, std::size_t n) {
  comm.require_healthy("all_reduce_max");
  check_buffer(buf, n, "all_reduce_max", "buf");
  const int p = comm.world_size();
  if (n == 0 || p == 1) return;
  float* gathered = comm.workspace(times(static_cast<std::size_t>(p), n, "all_reduce_max"));
  comm.check_enqueue(ncclAllGather(buf, gathered, n, ncclFloat, comm.nccl(), comm.stream()),
                     "ncclAllGather (all_reduce_max)");
  launch_max_reduce(gathered, buf, p, n, comm.stream());
  comm.wait("all_reduce_max");
}

DeviceMatrix reduce_scatter_tree(Communicator& comm, const DeviceMatrix& x, Axis axis) {
  const int p = comm.world_size();
  if (axis == Axis::Rows) {
    const std::int64_t rows = atp::sim::divide(x.rows(), p, "reduce_scatter_tree: rows of " + x.shape());
    DeviceMatrix out(rows, x.cols());
    reduce_scatter_tree(comm, x.data(), out.size(), out.data());
    return out;
  }
  const std::int64_t cols = atp::sim::divide(x.cols(), p, "reduce_scatter_tree: cols of " + x.shape());
  DeviceMatrix blocks(static_cast<std::int64_t>(p) * x.rows(), cols);  // [p][R][C/p]
  launch_cols_to_blocks(x.data(), blocks.data(), x.rows(), static_cast<int>(cols), p, comm.stream());
  DeviceMatrix out(x.rows(), cols);
  reduce_scatter_tree(comm, blocks.data(), out.size(), out.data());
  return out;
}

void all_reduce_max(Communicator& comm, DeviceMatrix& x) { all_reduce_max(comm, x.data(), x.size()); }

}  // namespace atp::cuda
