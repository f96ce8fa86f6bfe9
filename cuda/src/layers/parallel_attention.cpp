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

ParallelAttention::Steps ParallelAttention::forward_steps(Communicator& comm, const DeviceMatrix& x) const {
  const cudaStream_t stream = comm.stream();
  const atp::sim::HeadAssignment& a = qkv_.assignment();
  const int d = qkv_.head_dim(), nq = a.q_heads.size();
  const int group = qkv_.num_heads() / qkv_.num_kv_heads();
  Steps s;
  // Leaving the sequence-parallel region: every rank needs all tokens for its heads.
  const DeviceMatrix gathered = options_.sequence_parallel ? all_gather(comm, x, Axis::Rows) : DeviceMatrix();
  s.qkv = qkv_.split(comm, qkv_.forward(comm, options_.sequence_parallel ? gathered : x));
  const int T = s.qkv.q.rows(), S = s.qkv.k.rows();
  s.probs = DeviceMatrix(static_cast<std::int64_t>(nq) * T, S);
  s.context = DeviceMatrix(T, static_cast<std::int64_t>(nq) * d);
  const float scale = atp::attention_scale(d);
  DeviceMatrix qh(T, d), kh(S, d), vh(S, d), vt(d, S), scores(T, S), ctx(T, d);
  for (int i = 0; i < nq; ++i) {
    const int g = (a.q_heads.begin + i) / group - a.kv_heads.begin;  // local index of its KV head
    copy_cols(s.qkv.q, i * d, d, qh, 0, stream);
    copy_cols(s.qkv.k, g * d, d, kh, 0, stream);
    copy_cols(s.qkv.v, g * d, d, vh, 0, stream);
    matmul_nt_into(qh, kh, scores, stream);  // dot(t, s): fma chain over d
    launch_attention_scale_mask(scores.data(), T, S, scale, options_.causal, stream);
    float* P = s.probs.data() + static_cast<std::size_t>(i) * T * S;
    launch_softmax_rows(scores.data(), P, T, S, stream);
    launch_transpose(vh.data(), vt.data(), S, d, stream);
    // ctx(t, j) = fma chain over s ascending of P(t, s) v(s, j): matmul_nt against v^T.
    launch_matmul_nt(P, vt.data(), nullptr, ctx.data(), T, d, S, stream);
    copy_cols(ctx, 0, d, s.context, i * d, stream);
  }
  comm.wait("ParallelAttention::forward_steps (local attention)");
  s.partial = out_proj_.partial_sum(comm, s.context);
  s.out = out_proj_.forward(comm, s.context);
  return s;
}

DeviceMatrix ParallelAttention::forward(Communicator& comm, const DeviceMatrix& x) const {
  return forward_steps(comm, x).out;
}

}  // namespace atp::cuda
