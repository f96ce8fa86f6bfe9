/// \file multimodal_merge.hpp
/// \brief GPU merge of image features into the placeholder rows of the text
///        embeddings: the twin of atp/sim/vision/multimodal_merge.hpp.
///
/// One device row copy per placeholder (row_blocks.hpp): bits only, no
/// communication, the same on every rank. The counts are checked by the
/// simulator's placeholder_positions and messages before anything is copied.
/// Left out: a single scatter kernel (a loop of row copies is plenty at these sizes).
#pragma once

#include "atp/cuda/device_buffer.hpp"

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace atp::cuda {

/// text (T, D) with placeholder rows replaced, in order, by the rows of features (N, D); waits for the copies.
/// \throws std::invalid_argument as atp::sim::merge_multimodal_embeddings.
DeviceMatrix merge_multimodal_embeddings(const DeviceMatrix& text, const std::vector<std::int64_t>& ids,
                                         std::int64_t placeholder, const DeviceMatrix& features, cudaStream_t stream);

}  // namespace atp::cuda
