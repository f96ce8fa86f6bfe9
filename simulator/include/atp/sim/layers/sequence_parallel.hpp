/// \file sequence_parallel.hpp
/// \brief The sequence-parallel regions of Megatron-LM (chapter 12): the
///        tokens split across ranks between the tensor-parallel layers, and
///        the two collectives that enter and leave them.
///
/// Legend: T = tokens, H = hidden, p = tp size, T/p = tokens per rank.
///
///     x_r (T/p, H)  -- norm, residual add: per rank, on its own rows --
///        | gather_from_sequence_parallel_region   (all-gather along rows: "g-bar")
///        v
///     x (T, H) on every rank -> ColumnParallelLinear ... RowParallelLinear partial sums (T, H)
///        | reduce_scatter_to_sequence_parallel_region  (reduce-scatter along rows: "g")
///        v
///     y_r (T/p, H)  rows [r T/p, (r+1) T/p) of the sum
///
/// Names after megatron/core/tensor_parallel/mappings.py, whose forward passes
/// are the same collectives: _GatherFromSequenceParallelRegion.forward runs
/// _gather_along_first_dim (an all-gather of dim 0, the sequence), and
/// _ReduceScatterToSequenceParallelRegion.forward runs
/// _reduce_scatter_along_first_dim. Megatron's ColumnParallelLinear does the
/// gather inside LinearWithGradAccumulationAndAsyncCommunication.forward when
/// sequence_parallel is set; its RowParallelLinear.forward calls
/// reduce_scatter_to_sequence_parallel_region instead of
/// reduce_from_tensor_model_parallel_region. Here the gather is done by
/// ColumnParallelLinear (ColumnParallelOptions::sequence_parallel) and by
/// ParallelAttention before its QKV projection, the reduce-scatter by
/// RowParallelLinear (RowParallelOptions::sequence_parallel).
///
/// The pair moves the same bytes as the all-reduce it replaces (a ring
/// all-reduce IS a reduce-scatter then an all-gather), with one more
/// collective launch. Megatron asserts that p divides the sequence
/// (_split_along_first_dim); so does this file. Leaves out: the backward
/// pass (where the two swap roles), uneven token splits, overlapping.
#pragma once

#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <string>

namespace atp::sim {

/// T / p, the tokens per rank of a sequence-parallel region.
/// \throws std::invalid_argument naming T and p, and listing the valid tp,
///         unless p >= 1 divides T (pad the sequence, or turn SP off).
std::int64_t sequence_rows_per_rank(std::int64_t tokens, int p);

/// Rank r's rows [r T/p, (r+1) T/p) of x (T, H), which every rank holds: no
/// communication (Megatron's scatter_to_sequence_parallel_region).
PerRank<Matrix> scatter_to_sequence_parallel_region(const Matrix& x, int p);

/// The all-gather along rows that leaves a sequence-parallel region: every
/// rank gets the (T, H) stack of the p (T/p, H) shards in rank order. Traced
/// as all_gather under `label`. Moves bits only.
PerRank<Matrix> gather_from_sequence_parallel_region(World& world, const PerRank<Matrix>& x, const std::string& label);

/// The reduce-scatter along rows that enters a sequence-parallel region: rank
/// r gets rows [r T/p, (r+1) T/p) of the sum of the p (T, H) partial sums,
/// summed in rank order (ReduceOrder::RankOrder, reduce_scatter) or in the
/// tree order (ReduceOrder::Tree, reduce_scatter_tree): bitwise the rows of
/// the matching all-reduce. \throws std::invalid_argument for
/// ReduceOrder::Ring (no ring reduce-scatter here) or when p does not divide T.
PerRank<Matrix> reduce_scatter_to_sequence_parallel_region(World& world, const PerRank<Matrix>& partial,
                                                           ReduceOrder order, const std::string& label);

}  // namespace atp::sim
