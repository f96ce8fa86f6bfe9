/// \file qkv_parallel_linear.hpp
/// \brief QKVParallelLinear: the query, key and value projections of attention
///        as one column-parallel layer split by heads, with grouped-query KV
///        heads split or replicated (chapter 5; vLLM's name and rule).
///
/// Legend: T = tokens, H = hidden size, nH = query heads, nKV = key/value
/// heads, d = head_dim, p = tp size. Masters (attention_weights.hpp):
/// Wq (nH*d, H), Wk (nKV*d, H), Wv (nKV*d, H), y = x W^T + b.
///
/// Rank r holds query heads [r*nH/p, (r+1)*nH/p) and its KV heads:
///
///     p divides nKV:   KV heads [r*nKV/p, (r+1)*nKV/p)          (split)
///     p > nKV:         KV head r / (p/nKV), on p/nKV ranks each  (replicated)
///
/// and stacks them into one weight, as vLLM does, so one matmul per rank
/// yields [q_r | k_r | v_r] along columns:
///
///     W_r = [ Wq rows of its Q heads ; Wk rows of its KV heads ; Wv rows of its KV heads ]
///           ((nH/p + 2 nKV_r) d, H),  nKV_r = max(nKV/p, 1)
///
/// Every output element is one whole dot product over H on one rank, so q, k
/// and v are bitwise equal to the dense projections' columns: nothing is
/// summed across ranks. Query head h uses KV head h / (nH/nKV); the split
/// keeps every rank's query heads next to their KV heads, so attention needs
/// no communication. Leaves out: the backward pass, uneven head counts,
/// padding of KV heads (vLLM also refuses p that neither divides nor is a
/// multiple of nKV), rotary embeddings.
#pragma once

#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <string>

namespace atp::sim {

/// A half-open range of head indices [begin, end).
struct HeadRange {
  int begin = 0;  ///< first head
  int end = 0;    ///< one past the last head
  /// end - begin.
  int size() const { return end - begin; }
  /// Same bounds.
  bool operator==(const HeadRange&) const = default;
};

/// Which heads one rank holds.
struct HeadAssignment {
  int rank = 0;          ///< the rank
  HeadRange q_heads;     ///< its query heads [r*nH/p, (r+1)*nH/p)
  HeadRange kv_heads;    ///< its KV heads (one head when replicated)
  int kv_replicas = 1;   ///< on how many ranks each of its KV heads lives (p/nKV when p > nKV, else 1)
};

/// Checks a (num_heads, num_kv_heads, p) combination and returns nothing if it
/// is valid: nH, nKV, p >= 1; nKV divides nH; p divides nH; and p divides nKV
/// or p is a multiple of nKV.
/// \throws std::invalid_argument naming the values and listing what would be
///         valid (the valid tp for these heads, or the valid nKV).
void check_attention_heads(int num_heads, int num_kv_heads, int p);

/// The valid tensor-parallel sizes for nH query and nKV KV heads, ascending, as "1, 2, 4, 8".
std::string valid_attention_tp_list(int num_heads, int num_kv_heads);

/// Rank r's heads (after check_attention_heads); vLLM's rule, see the file comment.
HeadAssignment head_assignment(int num_heads, int num_kv_heads, int p, int rank);

/// The KV head that query head h reads: h / (nH / nKV).
int kv_head_of(int q_head, int num_heads, int num_kv_heads);

/// The master rows rank r's stacked shard is made of: rows [q_begin, q_begin
/// + q_rows) of Wq, then rows [kv_begin, kv_begin + kv_rows) of Wk and of Wv.
struct QKVShardRows {
  Eigen::Index q_begin = 0;   ///< first Wq row (its first query head times d)
  Eigen::Index q_rows = 0;    ///< nH/p * d
  Eigen::Index kv_begin = 0;  ///< first Wk (and Wv) row
  Eigen::Index kv_rows = 0;   ///< nKV_r * d
};

/// Rank r's rows of the masters (head_assignment() times d): what
/// from_masters stacks and what a checkpoint reader reads for rank r.
QKVShardRows qkv_shard_rows(int num_heads, int num_kv_heads, int head_dim, int p, int rank);

/// The query, key and value projections, column-parallel by heads.
class QKVParallelLinear {
 public:
  /// Shards the masters by heads (see the file comment). Biases are (1, rows)
  /// each or all nullptr. head_dim = 0 means H / nH.
  /// \throws std::invalid_argument for an invalid head/tp combination
  ///         (check_attention_heads), H not divisible by nH when head_dim = 0,
  ///         head_dim < 0, and weights or biases whose shapes do not match nH,
  ///         nKV, d and H (each message names the values and the valid ones).
  static QKVParallelLinear from_masters(const Matrix& Wq, const Matrix& Wk, const Matrix& Wv, const Matrix* bq,
                                        const Matrix* bk, const Matrix* bv, int num_heads, int num_kv_heads, int p,
                                        int head_dim = 0);
  /// Wraps stacked shards read elsewhere: weight[r] ((nH/p + 2 nKV_r) d, H) as
  /// qkv_shard_rows() describes, bias[r] (1, that) or (0, 0) on every rank.
  /// from_masters slices and then calls this.
  /// \throws std::invalid_argument for an invalid head/tp combination or a
  ///         shard of the wrong shape (names the rank, the shape and the expected one).
  static QKVParallelLinear from_shards(PerRank<Matrix> weight, PerRank<Matrix> bias, int num_heads, int num_kv_heads,
                                       int head_dim);

  /// Tensor-parallel size p.
  int p() const { return weight_.size(); }
  /// H: the input features.
  Eigen::Index hidden_size() const { return weight_[0].cols(); }
  /// nH, all query heads.
  int num_heads() const { return num_heads_; }
  /// nKV, all KV heads.
  int num_kv_heads() const { return num_kv_heads_; }
  /// d.
  int head_dim() const { return head_dim_; }
  /// nH / p query heads per rank.
  int num_heads_per_rank() const { return num_heads_ / p(); }
  /// KV heads per rank: nKV / p, or 1 when replicated.
  int num_kv_heads_per_rank() const { return head_assignment(num_heads_, num_kv_heads_, p(), 0).kv_heads.size(); }
  /// Ranks that hold a copy of each KV head: p / nKV when p > nKV, else 1.
  int num_kv_head_replicas() const { return head_assignment(num_heads_, num_kv_heads_, p(), 0).kv_replicas; }
  /// Rank r's heads.
  HeadAssignment assignment(int rank) const { return head_assignment(num_heads_, num_kv_heads_, p(), rank); }
  /// The stacked shard W_r ((nH/p + 2 nKV_r) d, H) per rank.
  const PerRank<Matrix>& weight() const { return weight_; }
  /// The stacked bias (1, (nH/p + 2 nKV_r) d) per rank, or (0, 0) on every rank.
  const PerRank<Matrix>& bias() const { return bias_; }
  /// True if the layer has biases.
  bool has_bias() const { return bias_[0].size() > 0; }

  /// x: the same (T, H) on every rank. Returns [q_r | k_r | v_r]
  /// (T, (nH/p + 2 nKV_r) d) per rank: one matmul per rank, no communication.
  /// \throws std::invalid_argument naming the rank and shapes if x is not (T, H) on p ranks.
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, const std::string& label) const;

  /// The three parts of forward()'s output on every rank.
  struct Parts {
    PerRank<Matrix> q;  ///< (T, nH/p * d): rank r's query heads side by side
    PerRank<Matrix> k;  ///< (T, nKV_r * d): its KV heads' keys
    PerRank<Matrix> v;  ///< (T, nKV_r * d): its KV heads' values
  };
  /// Splits forward()'s per-rank output into q, k, v (copies of its column blocks).
  Parts split(const PerRank<Matrix>& qkv) const;

  /// Puts W_r (and the bias) in world.memory() as MemoryKind::Weight
  /// "label.weight" / "label.bias" per rank; replicated KV rows count on every
  /// rank that holds them.
  void account_memory(World& world, const std::string& label) const;

 private:
  QKVParallelLinear(PerRank<Matrix> weight, PerRank<Matrix> bias, int num_heads, int num_kv_heads, int head_dim)
      : weight_(std::move(weight)), bias_(std::move(bias)), num_heads_(num_heads), num_kv_heads_(num_kv_heads),
        head_dim_(head_dim) {}
  PerRank<Matrix> weight_;
  PerRank<Matrix> bias_;
  int num_heads_;
  int num_kv_heads_;
  int head_dim_;
};

}  // namespace atp::sim
