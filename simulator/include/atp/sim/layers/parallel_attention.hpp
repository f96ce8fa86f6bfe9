/// \file parallel_attention.hpp
/// \brief ParallelAttention: multi-head (and grouped-query) self-attention
///        split by heads across p simulated ranks (chapter 5).
///
/// Legend: T = tokens, H = hidden, nH = query heads, nKV = KV heads,
/// d = head_dim, p = tp size, nH_r = nH/p, nKV_r = KV heads on rank r.
///
///     x (T, H), the same on every rank
///       | QKVParallelLinear (column-parallel by heads; no communication)
///       v
///     rank r: q_r (T, nH_r d)  k_r, v_r (T, nKV_r d)
///       | per local head i (global h = r nH_r + i, KV head h / (nH/nKV)):
///       |   P = softmax(mask(q_h k_g^T * scale))    (T, T)
///       |   ctx_h = P v_g                            (T, d)
///       v
///     ctx_r = [ctx_h ...] (T, nH_r d)   <- bitwise equal to the dense heads' columns
///       | RowParallelLinear Wo (input_is_parallel): partial sums y_r = ctx_r Wo_r^T
///       v
///     one all-reduce (Megatron's g), + bo once     -> (T, H) on every rank
///
/// The order of every score, probability and context element is that of
/// atp/attention_order.hpp; the GPU follows it, so both agree in bits. A head
/// needs only its own q, k, v columns, which is why attention itself needs no
/// communication; the only sum across ranks is the output projection's.
/// A decoder (chapter 7) passes a DecodeContext: q and k are rotated by a
/// RotaryEmbedding after the projection (local: a head never leaves its
/// rank), k and v are appended to the rank's KVCache, and the new queries
/// attend to every cached position with the causal mask shifted by the
/// number of positions already cached. A query row then sees exactly the keys
/// it would see in a full forward over the whole sequence, in the same order,
/// so one decode step gives the same bits as the last row of that forward.
/// Options from later chapters: order = ReduceOrder::Tree gives the output
/// projection the blocked tree order (chapter 11: the same bits at every tp
/// dividing tree_segments); sequence_parallel takes x as rank r's tokens
/// (T/p, H), all-gathers them before the QKV projection and reduce-scatters
/// the output projection (chapter 12), returning (T/p, H).
/// Leaves out: paged caches, several sequences, dropout, flash-style tiling
/// (it would reorder the softmax sum).
#pragma once

#include "atp/attention_weights.hpp"
#include "atp/sim/layers/kv_cache.hpp"
#include "atp/sim/layers/qkv_parallel_linear.hpp"
#include "atp/sim/layers/rotary_embedding.hpp"
#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp::sim {

/// The scaled, optionally causally masked scores of one head:
/// S(t, s) = attention_score(dot(q_t, k_s), attention_scale(d)), or -inf for
/// s > t + query_offset when causal (query row t sits at key position t + query_offset).
/// q (T, d), k (S, d) -> (T, S). \throws std::invalid_argument naming the shapes unless q, k have the same d >= 1.
Matrix attention_scores(const Matrix& q, const Matrix& k, bool causal, int query_offset = 0);

/// One head of attention in the canonical order (attention_order.hpp).
struct HeadAttention {
  Matrix probs;    ///< P (T, S): softmax of each row of attention_scores()
  Matrix context;  ///< P v (T, d)
};

/// One head: scores by atp::matmul_nt, scale and mask, atp::softmax_row per
/// row, context by atp::matmul_nn. q (T, d), k and v (S, d); query_offset as attention_scores.
/// \throws std::invalid_argument naming the shapes if they do not fit.
HeadAttention attention_head(const Matrix& q, const Matrix& k, const Matrix& v, bool causal, int query_offset = 0);

/// What a decoder adds to self-attention: rotary positions and a KV cache.
struct DecodeContext {
  const RotaryEmbedding* rotary = nullptr;  ///< rotate q and k per head (nullptr: no rotary)
  KVCache* cache = nullptr;                 ///< append k, v and attend over every cached position (nullptr: x's tokens only)
  int position = 0;                         ///< position of x's first token without a cache (with one: cache->length())
};

/// Options of the attention layer.
struct ParallelAttentionOptions {
  bool causal = false;                         ///< hide future tokens (s > t) from every query
  ReduceOrder order = ReduceOrder::RankOrder;  ///< the output projection's all-reduce
  int tree_segments = atp::kDefaultTreeSegments;  ///< S for ReduceOrder::Tree (a power of two dividing nH d, p | S)
  bool sequence_parallel = false;  ///< x and the output are rank r's tokens (T/p, H)
};

/// Self-attention split by heads: QKVParallelLinear, local attention, RowParallelLinear.
class ParallelAttention {
 public:
  /// Shards the masters (attention_weights.hpp) over p ranks. head_dim = 0 means H / nH.
  /// \throws std::invalid_argument for every invalid combination (as
  ///         QKVParallelLinear::from_masters, and Wo not (H, nH*d)).
  static ParallelAttention from_masters(const AttentionWeights& w, int num_heads, int num_kv_heads, int p,
                                        ParallelAttentionOptions options = {}, int head_dim = 0);
  /// Assembles the layer from a QKV projection and an output projection built
  /// elsewhere (from shards read per rank).
  /// \throws std::invalid_argument unless out_proj is (H, nH d), input_is_parallel, on the same p.
  static ParallelAttention from_parts(QKVParallelLinear qkv, RowParallelLinear out_proj,
                                      ParallelAttentionOptions options = {});

  /// Tensor-parallel size p.
  int p() const { return qkv_.p(); }
  /// The column-parallel Q/K/V projection.
  const QKVParallelLinear& qkv() const { return qkv_; }
  /// The row-parallel output projection.
  const RowParallelLinear& out_proj() const { return out_proj_; }
  /// The options it was built with.
  const ParallelAttentionOptions& options() const { return options_; }

  /// Everything a forward pass computes, per rank.
  struct Steps {
    QKVParallelLinear::Parts qkv;               ///< q_r, k_r, v_r
    PerRank<std::vector<Matrix>> probs;         ///< P (T, T) of each local query head, in head order
    PerRank<Matrix> context;                    ///< ctx_r (T, nH_r d): local heads side by side
    PerRank<Matrix> partial;                    ///< ctx_r Wo_r^T (T, H): what enters the all-reduce
    PerRank<Matrix> out;                        ///< (T, H) after the all-reduce and bo, every rank
  };

  /// x: the same (T, H) on every rank (with sequence_parallel: rank r's (T/p, H),
  /// all-gathered first as label + ".sp_gather"). Runs the layer (one all-reduce, traced as
  /// label + ".o_proj.all_reduce", or a reduce-scatter), narrating each step when the world narrates.
  /// `partial` is recomputed in a scratch world, so the trace holds exactly
  /// what forward() does. With a DecodeContext: rotary on q and k, the cache
  /// appended and attended (then qkv.k, qkv.v and probs cover every cached position).
  Steps forward_steps(World& world, const PerRank<Matrix>& x, const std::string& label,
                      const DecodeContext& context = {}) const;

  /// The output of forward_steps (the same bits and trace) without keeping the intermediates.
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, const std::string& label,
                          const DecodeContext& context = {}) const;

  /// Local attention of every rank's heads from q_r, k_r, v_r (no communication);
  /// records two matmuls per head. Fills `probs` if given. query_offset as attention_scores.
  PerRank<Matrix> local_attention(World& world, const QKVParallelLinear::Parts& qkv, const std::string& label,
                                  PerRank<std::vector<Matrix>>* probs = nullptr, int query_offset = 0) const;

  /// KV-cache bytes on rank r for `tokens` cached positions: 2 * T * nKV_r * d * 4 (fp32 keys and values).
  std::int64_t kv_cache_bytes(int rank, std::int64_t tokens) const;

  /// Puts the weights (label.qkv.*, label.o_proj.*) and the KV cache of `tokens`
  /// positions (label.kv_cache, MemoryKind::KVCache) in world.memory().
  void account_memory(World& world, const std::string& label, std::int64_t tokens) const;

 private:
  ParallelAttention(QKVParallelLinear qkv, RowParallelLinear out_proj, ParallelAttentionOptions options)
      : qkv_(std::move(qkv)), out_proj_(std::move(out_proj)), options_(options) {}
  /// The shared path of forward and forward_steps; fills `steps` when given.
  PerRank<Matrix> run(World& world, const PerRank<Matrix>& x, const std::string& label, const DecodeContext& context,
                      Steps* steps) const;
  QKVParallelLinear qkv_;
  RowParallelLinear out_proj_;
  ParallelAttentionOptions options_;
};

}  // namespace atp::sim
