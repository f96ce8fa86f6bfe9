/// \file rotary_embedding.cpp
/// \brief GPU RotaryEmbedding: the cache kernel at construction, the rotation kernel per call.
#include "atp/cuda/layers/rotary_embedding.hpp"

#include "atp/cuda/check.hpp"
#include "atp/cuda/rotary_kernels.hpp"
#include "atp/sim/layers/rotary_embedding.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {

RotaryEmbedding::RotaryEmbedding(int head_dim, int max_positions, float theta, RopeStyle style, cudaStream_t stream)
    : head_dim_(head_dim), style_(style) {
  (void)atp::sim::RotaryEmbedding(head_dim, 1, theta, style);  // the simulator's checks and messages
  if (max_positions < 1 || max_positions > (1 << 20))
    throw std::invalid_argument("RotaryEmbedding: max_positions " + std::to_string(max_positions) +
                                " must be in [1, 2^20]");
  cos_ = DeviceMatrix(max_positions, head_dim / 2);
  sin_ = DeviceMatrix(max_positions, head_dim / 2);
  launch_rope_cos_sin_cache(cos_.data(), sin_.data(), max_positions, head_dim, theta, stream);
  ATP_CUDA_CHECK(cudaStreamSynchronize(stream));
}

DeviceMatrix RotaryEmbedding::apply(const DeviceMatrix& x, int first_position, cudaStream_t stream) const {
  if (x.cols() % head_dim_ != 0)
    throw std::invalid_argument("RotaryEmbedding::apply: x is " + x.shape() + "; its columns must be whole heads of "
                                "head_dim " + std::to_string(head_dim_));
  if (first_position < 0 || first_position + x.rows() > max_positions())
    throw std::invalid_argument("RotaryEmbedding::apply: positions [" + std::to_string(first_position) + ", " +
                                std::to_string(first_position + x.rows()) + ") are outside the table's [0, " +
                                std::to_string(max_positions()) + ") (max_seq_len)");
  DeviceMatrix y(x.rows(), x.cols());
  launch_rope_rotate(x.data(), y.data(), x.rows(), x.cols(), head_dim_, cos_.data(), sin_.data(), first_position,
                     style_, stream);
  return y;
}

}  // namespace atp::cuda
