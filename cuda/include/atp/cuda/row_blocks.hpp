/// \file row_blocks.hpp
/// \brief Copies of whole rows between device matrices: the GPU twin of
///        Eigen's middleRows on the host (row-major rows are contiguous, so
///        a block of rows is one memcpy). Bits only, no arithmetic.
///
/// Used wherever a batch is cut into images or images are put back together:
/// the packed attention of chapter 8, the padding and unpadding of the
/// data-parallel all-gather, the placeholder rows of chapter 9's merge.
/// Leaves out: strided column blocks (copy_cols in qkv_parallel_linear.hpp).
#pragma once

#include "atp/cuda/device_buffer.hpp"

#include <cuda_runtime.h>

#include <cstdint>

namespace atp::cuda {

/// Copies rows [src_row0, src_row0 + rows) of src into rows [dst_row0, ...) of
/// dst (same column count), on `stream`, without waiting.
/// \throws std::invalid_argument naming the shapes and ranges if they do not fit.
void copy_rows(const DeviceMatrix& src, std::int64_t src_row0, std::int64_t rows, DeviceMatrix& dst,
               std::int64_t dst_row0, cudaStream_t stream);

/// A new (rows, C) device matrix holding rows [row0, row0 + rows) of src; waits for the copy.
DeviceMatrix slice_rows(const DeviceMatrix& src, std::int64_t row0, std::int64_t rows, cudaStream_t stream);

/// Copies host row `row` of m into device row `dst_row` of dst (same column count); waits for the copy.
/// \throws std::invalid_argument naming the shapes if they do not fit.
void upload_row(const Matrix& m, Eigen::Index row, DeviceMatrix& dst, std::int64_t dst_row, cudaStream_t stream);

}  // namespace atp::cuda
