/// \file vocab_parallel_log_softmax.hpp
/// \brief GPU vocabulary-parallel log-softmax (chapter 11), the twin of
///        atp/sim/layers/vocab_parallel_log_softmax.hpp: this rank's slice of
///        the log-probabilities from its slice of the logits.
///
///     m   = launch_rows_max(real columns) -> all_reduce_max        exact
///     e   = launch_rows_exp_tree_sum(S/p segments, or 1)            this rank's subtree (or whole slice)
///     sum = all_reduce_tree(e) (Tree) or all_reduce_rank_order(e)   the upper levels
///     out = launch_log_softmax_epilogue                             -inf on padding ids
///
/// With ReduceOrder::Tree the result is the same at every p dividing S and
/// equals the simulator's (designed to be bitwise equal; verified on a GPU:
/// not yet). Left out: the loss, sampling, temperature.
#pragma once

#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/sim/layers/vocab_parallel_log_softmax.hpp"

#include <cstdint>

namespace atp::cuda {

/// This rank's log-probabilities (T, n) from its local logits (T, n), n =
/// V_pad / p, for V real ids. Returns once finished.
/// \throws std::invalid_argument as atp::sim::vocab_parallel_log_softmax
///         (shapes, order, tree segments and p).
DeviceMatrix vocab_parallel_log_softmax(Communicator& comm, const DeviceMatrix& local_logits, std::int64_t V,
                                        atp::sim::LogSoftmaxOptions options);

}  // namespace atp::cuda
