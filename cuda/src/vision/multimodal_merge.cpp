/// \file multimodal_merge.cpp
/// \brief Placeholder rows overwritten by device row copies.
#include "atp/cuda/vision/multimodal_merge.hpp"

#include "atp/cuda/check.hpp"
#include "atp/cuda/row_blocks.hpp"
#include "atp/sim/vision/multimodal_merge.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {

DeviceMatrix merge_multimodal_embeddings(const DeviceMatrix& text, const std::vector<std::int64_t>& ids,
                                         std::int64_t placeholder, const DeviceMatrix& features, cudaStream_t stream) {
  // The simulator's checks, on shapes alone: the same errors with the same words.
  (void)atp::sim::merge_multimodal_embeddings(Matrix::Zero(text.rows(), text.cols()), ids, placeholder,
                                              Matrix::Zero(features.rows(), features.cols()));
  DeviceMatrix merged = slice_rows(text, 0, text.rows(), stream);
  const std::vector<Eigen::Index> at = atp::sim::placeholder_positions(ids, placeholder);
  for (std::size_t k = 0; k < at.size(); ++k) copy_rows(features, static_cast<std::int64_t>(k), 1, merged, at[k], stream);
  ATP_CUDA_CHECK(cudaStreamSynchronize(stream));
  return merged;
}

}  // namespace atp::cuda
