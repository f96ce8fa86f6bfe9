/// \file segmented_attention.cpp
/// \brief Packed sequences through the GPU chapter 5 layer.
#include "atp/cuda/layers/segmented_attention.hpp"

#include "atp/cuda/row_blocks.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {

DeviceMatrix attention_forward_segments(Communicator& comm, const ParallelAttention& layer, const DeviceMatrix& x,
                                        const std::vector<std::int64_t>& segment_rows) {
  std::int64_t total = 0;
  for (std::size_t i = 0; i < segment_rows.size(); ++i) {
    if (segment_rows[i] < 1)
      throw std::invalid_argument("attention_forward_segments: sequence " + std::to_string(i) + " has " +
                                  std::to_string(segment_rows[i]) + " rows; every sequence needs >= 1");
    total += segment_rows[i];
  }
  if (segment_rows.empty() || total != x.rows())
    throw std::invalid_argument("attention_forward_segments: the " + std::to_string(segment_rows.size()) +
                                " sequences add up to " + std::to_string(total) + " rows but x has " +
                                std::to_string(x.rows()) + "; they must cover x exactly");
  const cudaStream_t stream = comm.stream();
  const QKVParallelLinear::Parts parts = layer.qkv().split(comm, layer.qkv().forward(comm, x));
  DeviceMatrix context(total, parts.q.cols());
  std::int64_t offset = 0;
  for (const std::int64_t rows : segment_rows) {
    const QKVParallelLinear::Parts seg{slice_rows(parts.q, offset, rows, stream), slice_rows(parts.k, offset, rows, stream),
                                       slice_rows(parts.v, offset, rows, stream)};
    const DeviceMatrix ctx = layer.local_attention(comm, seg);
    copy_rows(ctx, 0, rows, context, offset, stream);
    comm.wait("attention_forward_segments (context rows)");
    offset += rows;
  }
  return layer.out_proj().forward(comm, context);
}

}  // namespace atp::cuda
