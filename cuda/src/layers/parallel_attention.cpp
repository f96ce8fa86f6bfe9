/// \file parallel_attention.cpp
/// \brief GPU ParallelAttention: per-head attention from existing kernels in
///        the canonical order, then the row-parallel output projection.
#include "atp/cuda/layers/parallel_attention.hpp"

#include "atp/attention_order.hpp"
#include "atp/cuda/attention_kernels.hpp"
#include "atp/cuda/check.hpp"
#include "atp/cuda/kernels.hpp"
#include "atp/cuda/ops.hpp"
#include "atp/sim/layers/parallel_attention.hpp"

#include <stdexcept>
#include <string>
#include <utility>

namespace atp::cuda {

ParallelAttention ParallelAttention::from_masters(const AttentionWeights& w, int num_heads, int num_kv_heads, int rank,
                                                  int p, ParallelAttentionOptions options, int head_dim) {
  // The simulator validates every combination (heads, tp, head_dim, Wo) with its messages.
  (void)atp::sim::ParallelAttention::from_masters(
      w, num_heads, num_kv_heads, p,
      {options.causal, sim_order(options.form), options.tree_segments, options.sequence_parallel}, head_dim);
  const bool bias = w.has_bias();
  QKVParallelLinear qkv =
      QKVParallelLinear::from_masters(w.Wq, w.Wk, w.Wv, bias ? &w.bq : nullptr, bias ? &w.bk : nullptr,
                                      bias ? &w.bv : nullptr, num_heads, num_kv_heads, rank, p, head_dim);
  RowParallelOptions ro;
  ro.input_is_parallel = true;
  ro.form = options.form;
  ro.tree_segments = options.tree_segments;
  ro.sequence_parallel = options.sequence_parallel;
  RowParallelLinear out = RowParallelLinear::from_master(w.Wo, bias ? &w.bo : nullptr, rank, p, ro);
  return ParallelAttention(std::move(qkv), std::move(out), options);
}

ParallelAttention ParallelAttention::from_parts(QKVParallelLinear qkv, RowParallelLinear out_proj,
                                              ParallelAttentionOptions options) {
  const int inner = qkv.num_heads() * qkv.head_dim();
  if (out_proj.rank() != qkv.rank() || out_proj.p() != qkv.p() || out_proj.in_features() != inner ||
      out_proj.out_features() != qkv.weight().cols())
    throw std::invalid_argument("ParallelAttention::from_parts: the output projection is (" +
                                std::to_string(out_proj.out_features()) + ", " + std::to_string(out_proj.in_features()) +
                                ") on rank " + std::to_string(out_proj.rank()) + " of " + std::to_string(out_proj.p()) +
                                "; it must be (hidden " + std::to_string(qkv.weight().cols()) + ", " +
                                std::to_string(inner) + ") on rank " + std::to_string(qkv.rank()) + " of " +
                                std::to_string(qkv.p()));
  if (out_proj.options().form != options.form || out_proj.options().sequence_parallel != options.sequence_parallel)
    throw std::invalid_argument(std::string("ParallelAttention::from_parts: the output projection reduces in form ") +
                                to_string(out_proj.options().form) +
                                (out_proj.options().sequence_parallel ? " with sequence_parallel" : "") +
                                " but the options ask for " + to_string(options.form) +
                                (options.sequence_parallel ? " with sequence_parallel" : "") +
                                "; build both with the same form and sequence_parallel");
  return ParallelAttention(std::move(qkv), std::move(out_proj), options);
}

DeviceMatrix ParallelAttention::local_attention(Communicator& comm, const QKVParallelLinear::Parts& qkv,
                                                DeviceMatrix* probs, int query_offset) const {
  const cudaStream_t stream = comm.stream();
  const atp::sim::HeadAssignment& a = qkv_.assignment();
  const int d = qkv_.head_dim(), nq = a.q_heads.size();
  const int group = qkv_.num_heads() / qkv_.num_kv_heads();
  const int T = qkv.q.rows(), S = qkv.k.rows();
  DeviceMatrix all_probs(static_cast<std::int64_t>(nq) * T, S);
  DeviceMatrix context(T, static_cast<std::int64_t>(nq) * d);
  const float scale = atp::attention_scale(d);
  DeviceMatrix qh(T, d), kh(S, d), vh(S, d), vt(d, S), scores(T, S), ctx(T, d);
  for (int i = 0; i < nq; ++i) {
    const int g = (a.q_heads.begin + i) / group - a.kv_heads.begin;  // local index of its KV head
    copy_cols(qkv.q, i * d, d, qh, 0, stream);
    copy_cols(qkv.k, g * d, d, kh, 0, stream);
    copy_cols(qkv.v, g * d, d, vh, 0, stream);
    matmul_nt_into(qh, kh, scores, stream);  // dot(t, s): fma chain over d
    launch_attention_scale_mask(scores.data(), T, S, scale, options_.causal, query_offset, stream);
    float* P = all_probs.data() + static_cast<std::size_t>(i) * T * S;
    launch_softmax_rows(scores.data(), P, T, S, stream);
    launch_transpose(vh.data(), vt.data(), S, d, stream);
    // ctx(t, j) = fma chain over s ascending of P(t, s) v(s, j): matmul_nt against v^T.
    launch_matmul_nt(P, vt.data(), nullptr, ctx.data(), T, d, S, stream);
    copy_cols(ctx, 0, d, context, i * d, stream);
  }
  comm.wait("ParallelAttention::local_attention");
  if (probs != nullptr) *probs = std::move(all_probs);
  return context;
}

DeviceMatrix ParallelAttention::run(Communicator& comm, const DeviceMatrix& x, const DecodeContext& context,
                                    Steps* steps) const {
  const cudaStream_t stream = comm.stream();
  // Leaving the sequence-parallel region: every rank needs all tokens for its heads.
  const DeviceMatrix gathered = options_.sequence_parallel ? all_gather(comm, x, Axis::Rows) : DeviceMatrix();
  QKVParallelLinear::Parts parts = qkv_.split(comm, qkv_.forward(comm, options_.sequence_parallel ? gathered : x));
  const int first = context.cache != nullptr ? static_cast<int>(context.cache->length()) : context.position;
  if (context.rotary != nullptr) {
    // Rotary positions: this rank rotates its own heads' columns, no communication.
    parts.q = context.rotary->apply(parts.q, first, stream);
    parts.k = context.rotary->apply(parts.k, first, stream);
  }
  int query_offset = 0;
  if (context.cache != nullptr) {
    context.cache->append(parts.k, parts.v, stream);
    parts.k = context.cache->keys(stream);
    parts.v = context.cache->values(stream);
    query_offset = first;  // query row t is position first + t among the cached keys
  }
  DeviceMatrix probs;
  DeviceMatrix context_r = local_attention(comm, parts, steps != nullptr ? &probs : nullptr, query_offset);
  DeviceMatrix out = out_proj_.forward(comm, context_r);
  if (steps != nullptr) {
    steps->partial = out_proj_.partial_sum(comm, context_r);
    steps->qkv = std::move(parts);
    steps->probs = std::move(probs);
    steps->context = std::move(context_r);
  }
  return out;
}

ParallelAttention::Steps ParallelAttention::forward_steps(Communicator& comm, const DeviceMatrix& x,
                                                          const DecodeContext& context) const {
  Steps s;
  s.out = run(comm, x, context, &s);
  return s;
}

DeviceMatrix ParallelAttention::forward(Communicator& comm, const DeviceMatrix& x, const DecodeContext& context) const {
  return run(comm, x, context, nullptr);
}

}  // namespace atp::cuda
