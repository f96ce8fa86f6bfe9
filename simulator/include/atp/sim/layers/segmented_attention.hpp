/// \file segmented_attention.hpp
/// \brief Attention over a batch of independent sequences packed one after
///        another (the images of a vision encoder), on the chapter 5 layer.
///
/// Legend: T = rows of the packed batch, s_i = rows of sequence i
/// (sum s_i = T), H = hidden, p = tp size.
///
/// A vision encoder batches images of different sizes by packing their patch
/// rows into one (T, H) matrix; the projections are per row and do not care,
/// but attention must stay inside each image. vLLM's variable-size vision
/// towers do this with cumulative sequence lengths (cu_seqlens) handed to the
/// attention kernel, e.g. Qwen2-VL's vision attention in
/// vllm/model_executor/models/qwen2_vl.py. Here:
///
///     [q_r | k_r | v_r] = QKVParallelLinear(x)            one matmul for the whole batch
///     for each sequence i: rows [o_i, o_i + s_i) of q_r, k_r, v_r
///         -> ParallelAttention::local_attention            heads of rank r, this sequence only
///     ctx_r = the sequences' contexts stacked              (T, nH_r d)
///     out = RowParallelLinear(ctx_r)                       one all-reduce for the whole batch
///
/// Every element is computed exactly as ParallelAttention::forward would
/// compute it for that sequence alone (rows of a matmul are independent, the
/// softmax is per row), so packing changes no bits; it only saves collectives:
/// one all-reduce per layer for the batch instead of one per image.
/// Leaves out: causal masks across sequences (not needed by an encoder).
#pragma once

#include "atp/sim/layers/parallel_attention.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <string>
#include <vector>

namespace atp::sim {

/// x: the same (T, H) on every rank, the rows of sequence i in
/// [s_0 + ... + s_{i-1}, ... + s_i). Returns (T, H) on every rank: the
/// layer's attention with each sequence attending only to itself. Traced as
/// label + ".qkv", ".attn" (per sequence and head) and ".o_proj" (one all-reduce).
/// \throws std::invalid_argument naming the sums unless every s_i >= 1 and they add up to T.
PerRank<Matrix> attention_forward_segments(World& world, const ParallelAttention& layer, const PerRank<Matrix>& x,
                                           const std::vector<Eigen::Index>& segment_rows, const std::string& label);

}  // namespace atp::sim
