/// \file parallel_attention.hpp
/// \brief GPU ParallelAttention: this rank's heads of self-attention, then the
///        row-parallel output projection and one all-reduce (chapter 5), the
///        twin of atp/sim/layers/parallel_attention.hpp.
///
/// Per local head i (global head h, KV head g = h / (nH/nKV)), on comm.stream():
///
///     q_h, k_g, v_g   column blocks of the QKV output      (cudaMemcpy2D, bits only)
///     S = q_h k_g^T   matmul_nt                            (fma chain over d, as atp::matmul_nt)
///     S = scale/mask  launch_attention_scale_mask          (attention_order.hpp)
///     P = softmax     softmax_rows                         (32-lane order, as atp::softmax_row)
///     ctx_h = P v_g   matmul_nt(P, v_g^T)                  (fma chain over s ascending, as atp::matmul_nn)
///
/// so every score, probability and context element has the simulator's bits;
/// the output projection is the GPU RowParallelLinear with AllReduceForm
/// RankOrder (or Ring), bitwise equal to the simulator's same order.
/// A decoder (chapter 7) passes a DecodeContext, as on the simulator: q and k
/// rotated by the RotaryEmbedding after the projection, k and v appended to
/// this rank's KVCache, every cached position attended with the causal mask
/// shifted by the positions already cached (launch_attention_scale_mask's
/// query_offset).
/// With sequence_parallel (chapter 12), x is this rank's tokens and one
/// all-gather along rows comes before the QKV projection; the output
/// projection reduce-scatters.
/// Left out: flash-style fused kernels, paged caches.
#pragma once

#include "atp/attention_weights.hpp"
#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/layers/kv_cache.hpp"
#include "atp/cuda/layers/qkv_parallel_linear.hpp"
#include "atp/cuda/layers/rotary_embedding.hpp"
#include "atp/cuda/layers/row_parallel_linear.hpp"

namespace atp::cuda {

/// Options of the GPU attention layer.
struct ParallelAttentionOptions {
  bool causal = false;                            ///< hide future tokens (s > t)
  AllReduceForm form = AllReduceForm::RankOrder;  ///< the output projection's all-reduce (Tree: chapter 11)
  int tree_segments = atp::kDefaultTreeSegments;  ///< S for AllReduceForm::Tree
  bool sequence_parallel = false;                 ///< x and out are this rank's tokens (T/p, H) (chapter 12)
};

/// What a decoder adds to self-attention on this rank: rotary positions and a KV cache.
struct DecodeContext {
  const RotaryEmbedding* rotary = nullptr;  ///< rotate q and k per head (nullptr: no rotary)
  KVCache* cache = nullptr;                 ///< append k, v and attend over every cached position (nullptr: x's tokens only)
  int position = 0;                         ///< position of x's first token without a cache (with one: cache->length())
};

/// Rank r's part of the attention layer, on the device.
class ParallelAttention {
 public:
  /// Slices and uploads rank `rank`'s QKV and output-projection shards.
  /// \throws std::invalid_argument as atp::sim::ParallelAttention::from_masters, or naming rank and p.
  static ParallelAttention from_masters(const AttentionWeights& w, int num_heads, int num_kv_heads, int rank, int p,
                                        ParallelAttentionOptions options = {}, int head_dim = 0);
  /// Assembles this rank's layer from a QKV projection and an output projection built elsewhere.
  /// \throws std::invalid_argument unless out_proj is (H, nH d) on the same rank and p.
  static ParallelAttention from_parts(QKVParallelLinear qkv, RowParallelLinear out_proj,
                                      ParallelAttentionOptions options = {});

  /// The Q/K/V projection.
  const QKVParallelLinear& qkv() const { return qkv_; }
  /// The output projection.
  const RowParallelLinear& out_proj() const { return out_proj_; }
  /// The options it was built with.
  const ParallelAttentionOptions& options() const { return options_; }

  /// Everything this rank computes in one forward pass.
  struct Steps {
    QKVParallelLinear::Parts qkv;  ///< q_r, k_r, v_r
    DeviceMatrix probs;            ///< (nH_r T, T): local head i's P in rows [i T, (i+1) T)
    DeviceMatrix context;          ///< (T, nH_r d)
    DeviceMatrix partial;          ///< (T, H): ctx_r Wo_r^T, before the all-reduce
    DeviceMatrix out;              ///< (T, H): after the all-reduce and bo
  };

  /// x (T, H), the same on every rank (sequence_parallel: this rank's (T/p, H)). Returns once finished. With a
  /// DecodeContext: rotary, cache appended and attended (then qkv.k, qkv.v and
  /// probs cover every cached position).
  Steps forward_steps(Communicator& comm, const DeviceMatrix& x, const DecodeContext& context = {}) const;
  /// The output of forward_steps (the same bits), without the inspection-only partial sum.
  DeviceMatrix forward(Communicator& comm, const DeviceMatrix& x, const DecodeContext& context = {}) const;

  /// This rank's heads attending over q_r, k_r, v_r (no communication):
  /// ctx_r (T, nH_r d), the twin of atp::sim::ParallelAttention::local_attention.
  /// Fills `probs` (nH_r T, S) if given. query_offset: query row t is key
  /// position query_offset + t (the causal mask after a KV cache). Returns once finished.
  DeviceMatrix local_attention(Communicator& comm, const QKVParallelLinear::Parts& qkv,
                               DeviceMatrix* probs = nullptr, int query_offset = 0) const;

 private:
  ParallelAttention(QKVParallelLinear qkv, RowParallelLinear out_proj, ParallelAttentionOptions options)
      : qkv_(std::move(qkv)), out_proj_(std::move(out_proj)), options_(options) {}
  /// The shared path: projection, rotary, cache, local attention, output projection; fills `steps` if given.
  DeviceMatrix run(Communicator& comm, const DeviceMatrix& x, const DecodeContext& context, Steps* steps) const;
  QKVParallelLinear qkv_;
  RowParallelLinear out_proj_;
  ParallelAttentionOptions options_;
};

}  // namespace atp::cuda
