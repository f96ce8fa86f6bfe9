/// \file vocab_parallel_log_softmax.cpp
/// \brief GPU vocabulary-parallel log-softmax: three kernels and two all-reduces.
#include "atp/cuda/layers/vocab_parallel_log_softmax.hpp"

#include "atp/cuda/collectives.hpp"
#include "atp/cuda/tree_kernels.hpp"
#include "atp/matmul_tree.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace atp::cuda {

DeviceMatrix vocab_parallel_log_softmax(Communicator& comm, const DeviceMatrix& local_logits, std::int64_t V,
                                        atp::sim::LogSoftmaxOptions options) {
  const int p = comm.world_size(), r = comm.rank();
  const std::string what = "vocab_parallel_log_softmax (" + comm.describe() + ")";
  const std::int64_t n = atp::sim::vocab_per_rank(V, p);
  if (local_logits.cols() != n)
    throw std::invalid_argument(what + ": the local logits are " + local_logits.shape() + " but V = " +
                                std::to_string(V) + " at tp " + std::to_string(p) + " gives (T, " + std::to_string(n) +
                                ") per rank");
  const bool tree = options.order == atp::sim::ReduceOrder::Tree;
  if (tree) {
    atp::tree_split(n * p, options.tree_segments, what + ": padded vocabulary");
    atp::check_tree_tp(options.tree_segments, p, what);
  } else if (options.order != atp::sim::ReduceOrder::RankOrder) {
    throw std::invalid_argument(what + ": order " + std::string(atp::sim::to_string(options.order)) +
                                " is not offered; use rank-order (ordinary) or tree (the same bits at every tp)");
  }
  const int T = local_logits.rows(), c = static_cast<int>(n);
  const int real = static_cast<int>(std::clamp<std::int64_t>(V - static_cast<std::int64_t>(r) * n, 0, n));
  DeviceMatrix m(T, 1), e(T, 1), out(T, c);
  launch_rows_max(local_logits.data(), m.data(), T, c, real, comm.stream());
  all_reduce_max(comm, m);  // waits
  launch_rows_exp_tree_sum(local_logits.data(), m.data(), e.data(), T, c, real, tree ? options.tree_segments / p : 1,
                           comm.stream());
  all_reduce(comm, e, tree ? AllReduceForm::Tree : AllReduceForm::RankOrder);
  launch_log_softmax_epilogue(local_logits.data(), m.data(), e.data(), out.data(), T, c, real, comm.stream());
  comm.wait("vocab_parallel_log_softmax");
  return out;
}

}  // namespace atp::cuda
