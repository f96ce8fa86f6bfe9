/// \file segmented_attention.cpp
/// \brief Packed sequences through the chapter 5 layer: one QKV, per-sequence heads, one output projection.
#include "atp/sim/layers/segmented_attention.hpp"

#include <stdexcept>

namespace atp::sim {

PerRank<Matrix> attention_forward_segments(World& world, const ParallelAttention& layer, const PerRank<Matrix>& x,
                                           const std::vector<Eigen::Index>& segment_rows, const std::string& label) {
  const int p = layer.p();
  if (x.size() != p)
    throw std::invalid_argument("attention_forward_segments '" + label + "': x holds " + std::to_string(x.size()) +
                                " ranks but the layer is split across tp " + std::to_string(p));
  Eigen::Index total = 0;
  for (std::size_t i = 0; i < segment_rows.size(); ++i) {
    if (segment_rows[i] < 1)
      throw std::invalid_argument("attention_forward_segments '" + label + "': sequence " + std::to_string(i) +
                                  " has " + std::to_string(segment_rows[i]) + " rows; every sequence needs >= 1");
    total += segment_rows[i];
  }
  if (segment_rows.empty() || total != x[0].rows())
    throw std::invalid_argument("attention_forward_segments '" + label + "': the " +
                                std::to_string(segment_rows.size()) + " sequences add up to " + std::to_string(total) +
                                " rows but x has " + std::to_string(x[0].rows()) + "; they must cover x exactly");
  const QKVParallelLinear::Parts parts = layer.qkv().split(layer.qkv().forward(world, x, label + ".qkv"));
  PerRank<Matrix> context = make_per_rank(p, [&](int r) -> Matrix { return Matrix(total, parts.q[r].cols()); });
  Eigen::Index offset = 0;
  for (const Eigen::Index rows : segment_rows) {
    auto slice = [&](const PerRank<Matrix>& m) {
      return make_per_rank(p, [&](int r) -> Matrix { return m[r].middleRows(offset, rows); });
    };
    const PerRank<Matrix> ctx = layer.local_attention(world, {slice(parts.q), slice(parts.k), slice(parts.v)},
                                                      label + ".attn");
    for (int r = 0; r < p; ++r) context[r].middleRows(offset, rows) = ctx[r];
    offset += rows;
  }
  return layer.out_proj().forward(world, context, label + ".o_proj");
}

}  // namespace atp::sim
