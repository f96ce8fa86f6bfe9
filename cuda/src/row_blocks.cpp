/// \file row_blocks.cpp
/// \brief Contiguous row copies on the device.
#include "atp/cuda/row_blocks.hpp"

#include "atp/cuda/check.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

std::string range(std::int64_t r0, std::int64_t n) {
  return "[" + std::to_string(r0) + ", " + std::to_string(r0 + n) + ")";
}

}  // namespace

void copy_rows(const DeviceMatrix& src, std::int64_t src_row0, std::int64_t rows, DeviceMatrix& dst,
               std::int64_t dst_row0, cudaStream_t stream) {
  if (src.cols() != dst.cols() || rows < 0 || src_row0 < 0 || dst_row0 < 0 || src_row0 + rows > src.rows() ||
      dst_row0 + rows > dst.rows())
    throw std::invalid_argument("copy_rows: rows " + range(src_row0, rows) + " of " + src.shape() + " into rows " +
                                range(dst_row0, rows) + " of " + dst.shape() +
                                " do not fit (column counts must match, ranges must lie inside)");
  if (rows == 0 || src.cols() == 0) return;
  const std::size_t row_bytes = static_cast<std::size_t>(src.cols()) * sizeof(float);
  ATP_CUDA_CHECK(cudaMemcpyAsync(dst.data() + static_cast<std::size_t>(dst_row0) * dst.cols(),
                                 src.data() + static_cast<std::size_t>(src_row0) * src.cols(),
                                 static_cast<std::size_t>(rows) * row_bytes, cudaMemcpyDeviceToDevice, stream));
}

DeviceMatrix slice_rows(const DeviceMatrix& src, std::int64_t row0, std::int64_t rows, cudaStream_t stream) {
  DeviceMatrix out(rows, src.cols());
  copy_rows(src, row0, rows, out, 0, stream);
  ATP_CUDA_CHECK(cudaStreamSynchronize(stream));
  return out;
}

void upload_row(const Matrix& m, Eigen::Index row, DeviceMatrix& dst, std::int64_t dst_row, cudaStream_t stream) {
  if (m.cols() != dst.cols() || row < 0 || row >= m.rows() || dst_row < 0 || dst_row >= dst.rows())
    throw std::invalid_argument("upload_row: row " + std::to_string(row) + " of host " + shape_string(m) +
                                " into row " + std::to_string(dst_row) + " of device " + dst.shape() +
                                " does not fit");
  ATP_CUDA_CHECK(cudaMemcpyAsync(dst.data() + static_cast<std::size_t>(dst_row) * dst.cols(), m.row(row).data(),
                                 static_cast<std::size_t>(m.cols()) * sizeof(float), cudaMemcpyHostToDevice, stream));
  ATP_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace atp::cuda
