/// \file segmented_attention.hpp
/// \brief GPU attention over a batch of independent sequences packed one
///        after another (the images of a vision encoder), on the chapter 5
///        layer: the twin of atp/sim/layers/segmented_attention.hpp.
///
/// One QKV matmul for the whole batch, ParallelAttention::local_attention on
/// each sequence's rows (cut out with slice_rows, bits only), the contexts
/// stacked, one output projection with its all-reduce. Every element has the
/// bits of that sequence's attention alone, as on the simulator.
/// Leaves out: a fused variable-length kernel (vLLM's cu_seqlens flash
/// attention), which would reorder the softmax sum.
#pragma once

#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/layers/parallel_attention.hpp"

#include <cstdint>
#include <vector>

namespace atp::cuda {

/// x (T, H), the same on every rank, sequence i in its rows; returns (T, H)
/// with each sequence attending only to itself. Returns once finished.
/// \throws std::invalid_argument naming the sums unless every s_i >= 1 and they add up to T.
DeviceMatrix attention_forward_segments(Communicator& comm, const ParallelAttention& layer, const DeviceMatrix& x,
                                        const std::vector<std::int64_t>& segment_rows);

}  // namespace atp::cuda
