/// \file tree_kernels.hpp
/// \brief The kernels of chapter 11's tree order: the tree sum of the tree
///        collectives, the exact maximum, and the vocabulary-parallel
///        log-softmax. Raw launchers: device pointers, sizes, a stream.
///
/// Letters: p = ranks (a power of two for the tree), n = elements per rank,
/// T = tokens (rows), c = columns of a rank's logits slice, S = segments.
///
/// Each kernel calls the shared ATP_HD functions the simulator calls
/// (atp/tree_order.hpp, atp/log_softmax_order.hpp), one output element per
/// thread, so the bits are the simulator's by construction. Like
/// kernels.hpp: sizes checked (std::invalid_argument naming them), empty
/// launches skipped, launches checked, nothing synchronised. No Eigen here.
/// Left out: warp-cooperative versions (the 32-lane sums run in one thread,
/// in the same order a warp would use).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace atp::cuda {

/// out[i] = atp::tree_sum over r of gathered[r][i] for buffers laid out
/// [p][n] (p a power of two <= atp::kMaxTreeLeaves): the summing kernel of
/// the tree reduce-scatter and of the tree-ordered matmul's segment partials.
void launch_tree_sum(const float* gathered, float* out, int p, std::size_t n, cudaStream_t stream);

/// out[i] = atp::max_nan over r of gathered[r][i], [p][n]: exact, any order.
void launch_max_reduce(const float* gathered, float* out, int p, std::size_t n, cudaStream_t stream);

/// m[t] = atp::row_max of the first `real` columns of row t of z (T, c).
void launch_rows_max(const float* z, float* m, int T, int c, int real, cudaStream_t stream);

/// e[t] = the tree over `segments` equal segments of row t of z (T, c) of
/// atp::exp_sum_lane32(segment's real columns, m[t]); the first `real`
/// columns are real ids. segments = 1 is the ordinary sum of the whole slice.
void launch_rows_exp_tree_sum(const float* z, const float* m, float* e, int T, int c, int real, int segments,
                              cudaStream_t stream);

/// out (T, c) = atp::log_softmax_epilogue(z, m[t], atp::log(sum[t])) on the
/// first `real` columns, -inf on the others.
void launch_log_softmax_epilogue(const float* z, const float* m, const float* sum, float* out, int T, int c, int real,
                                 cudaStream_t stream);

}  // namespace atp::cuda
