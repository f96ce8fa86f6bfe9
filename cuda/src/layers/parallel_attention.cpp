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
  (void)atp::sim::ParallelAttention::from_masters(w, num_heads, num_kv_heads, p,
                                                  {options.causal, sim_order(options.form)}, head_dim);
  const bool bias = w.has_bias();
  QKVParallelLinear qkv =
      QKVParallelLinear::from_masters(w.Wq, w.Wk, w.Wv, bias ? &w.bq : nullptr, bias ? &w.bk : nullptr,
                                      bias ? &w.bv : nullptr, num_heads, num_kv_heads, rank, p, head_dim);
  RowParallelOptions ro;
  ro.input_is_parallel = true;
  ro.form = options.form;
  RowParallelLinear out = RowParallelLinear::from_master(w.Wo, bias ? &w.bo : nullptr, rank, p, ro);
  return ParallelAttention(std::move(qkv), std::move(out), options);
}

DeviceMatrix ParallelAttention::local_attention(Communicator& comm, const QKVParallelLinear::Parts& qkv,
                                                DeviceMatrix* probs) const {
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
    launch_attention_scale_mask(scores.data(), T, S, scale, options_.causal, stream);
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

ParallelAttention::Steps ParallelAttention::forward_steps(Communicator& comm, const DeviceMatrix& x) const {
  Steps s;
  s.qkv = qkv_.split(comm, qkv_.forward(comm, x));
  s.context = local_attention(comm, s.qkv, &s.probs);
  s.partial = out_proj_.partial_sum(comm, s.context);
  s.out = out_proj_.forward(comm, s.context);
  return s;
}

DeviceMatrix ParallelAttention::forward(Communicator& comm, const DeviceMatrix& x) const {
  return forward_steps(comm, x).out;
}

}  // namespace atp::cuda
