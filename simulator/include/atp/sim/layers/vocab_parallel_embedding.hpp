/// \file vocab_parallel_embedding.hpp
/// \brief VocabParallelEmbedding: the embedding table split by vocabulary across
///        p simulated ranks; a mask, a local lookup with zeros for foreign
///        tokens, and one all-reduce (chapter 6).
///
/// Legend: V = vocabulary size, V_pad = V padded up to a multiple of 64
/// (vLLM's pad_vocab_size), H = hidden size, T = tokens, p = tp size,
/// n = V_pad / p rows per rank.
///
///          table (V_pad, H), rows V..V_pad-1 are zero padding
///        +---------------------+
///        |  E_0  ids [0, n)    |  rank 0
///        +---------------------+
///        |  E_1  ids [n, 2n)   |  rank 1
///        +---------------------+
///        |  ...                |
///        +---------------------+
///        |  E_{p-1}  ... V) +0 |  rank p-1 (holds the padding rows)
///        +---------------------+
///
/// Rank r owns ids [start_r, end_r) = [r n, (r+1) n) clipped to V. For every
/// token t it computes mine_r[t] = (start_r <= id_t < end_r), looks up row
/// id_t - start_r of E_r where mine and writes zeros elsewhere (Megatron-LM's
/// and vLLM's input mask), then an all-reduce (sum) gives every rank the full
/// (T, H) embeddings.
///
/// Why the result is bitwise equal to the dense lookup in any reduction order:
/// every id is owned by exactly one rank, so each output element is the sum
/// of one value v and p-1 zeros. The zeros written for foreign tokens are
/// -0.0f, the exact additive identity of IEEE 754: -0 + x = x for every x,
/// -0.0 and +0.0 included, and -0 + -0 = -0. So however the p addends are
/// grouped (rank order, NCCL's ring, ncclAllReduce's own choice) the sum is v,
/// bit for bit. (Megatron-LM writes +0.0, which is the identity for every x
/// except a stored -0.0, which would come back as +0.0.)
///
/// Leaves out: the backward pass, sequence-parallel embeddings (reduce-scatter
/// instead of all-reduce), uneven per-rank slices, LoRA's extra vocabulary.
#pragma once

#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace atp::sim {

/// The padding granularity of vLLM's vocabulary (DEFAULT_VOCAB_PADDING_SIZE = 64).
inline constexpr std::int64_t kVocabPadding = 64;

/// V rounded up to a multiple of `pad_to` (vLLM's pad_vocab_size).
/// \throws std::invalid_argument naming V unless V >= 1 and pad_to >= 1.
std::int64_t pad_vocab_size(std::int64_t V, std::int64_t pad_to = kVocabPadding);

/// "1, 2, 4, 8, 16, ...": the tp sizes p >= 1 that divide V_pad = pad_vocab_size(V).
std::string valid_vocab_tp_list(std::int64_t V);

/// V_pad / p, rows of the padded table per rank.
/// \throws std::invalid_argument naming V, V_pad and p, and listing the valid p,
///         unless p >= 1 divides V_pad.
std::int64_t vocab_per_rank(std::int64_t V, int p);

/// The token ids a rank owns: [start, end), possibly empty (a last rank that
/// holds only padding).
struct VocabRange {
  std::int64_t start = 0;  ///< first owned id (clipped to V)
  std::int64_t end = 0;    ///< one past the last owned id (clipped to V)
  /// end - start: how many real (non-padding) rows the rank holds.
  std::int64_t size() const { return end - start; }
  /// True when start <= id < end ("mine").
  bool contains(std::int64_t id) const { return id >= start && id < end; }
};

/// Rank r's range: [min(r n, V), min((r+1) n, V)) with n = vocab_per_rank(V, p).
/// \throws std::invalid_argument as vocab_per_rank, or for a bad rank.
VocabRange vocab_range(std::int64_t V, int p, int r);

/// Checks 0 <= ids[t] < V for every position t.
/// \throws std::invalid_argument "token id ID at position T is outside the
///         vocabulary [0, V)" for the first bad one.
void check_token_ids(const std::vector<std::int64_t>& ids, std::int64_t V);

/// Rank r's shard of a (V, H) table: rows [r n, (r+1) n) of the table padded
/// with +0.0f rows to (V_pad, H). The CPU layers and the GPU ranks all shard through it.
/// \throws std::invalid_argument as vocab_per_rank, or for an empty table or a bad rank.
Matrix vocab_shard(const Matrix& table, int p, int r);

/// Rank r's shard from its real rows alone: `rows` (range.size(), H) are
/// rows [start_r, end_r) of the table (read by rank r from a checkpoint),
/// followed by +0.0f padding up to n = V_pad / p rows, as vocab_shard().
/// \throws std::invalid_argument as vocab_range, or if `rows` is not (end_r - start_r, H).
Matrix vocab_shard_from_rows(const Matrix& rows, std::int64_t V, int p, int r);

/// Checks one rank's shard: (V_pad / p, H) with H >= 1.
/// \throws std::invalid_argument naming the rank, its shape and the expected one.
void check_vocab_shard(const Matrix& shard, std::int64_t V, int p, int r, const std::string& what);

/// The embedding table split by vocabulary across p ranks (Megatron-LM's and
/// vLLM's VocabParallelEmbedding).
class VocabParallelEmbedding {
 public:
  /// Pads `table` (V, H) with zero rows to (V_pad, H) and gives rank r rows
  /// [r n, (r+1) n) of the padded table. `order` picks the all-reduce.
  /// \throws std::invalid_argument if the table is empty or p does not divide V_pad
  ///         (the message names V, V_pad, p and the valid p).
  static VocabParallelEmbedding from_master(const Matrix& table, int p, ReduceOrder order = ReduceOrder::RankOrder);
  /// Wraps shards read elsewhere: shards[r] (V_pad / p, H), made by
  /// vocab_shard() or vocab_shard_from_rows(). from_master slices and then calls this.
  /// \throws std::invalid_argument as check_vocab_shard for every rank.
  static VocabParallelEmbedding from_shards(PerRank<Matrix> shards, std::int64_t V,
                                            ReduceOrder order = ReduceOrder::RankOrder);

  /// tp size p.
  int p() const { return weight_->size(); }
  /// V, the real vocabulary size.
  std::int64_t vocab_size() const { return V_; }
  /// V_pad, V rounded up to a multiple of 64.
  std::int64_t padded_vocab_size() const { return static_cast<std::int64_t>((*weight_)[0].rows()) * p(); }
  /// n = V_pad / p, rows per rank (padding included).
  std::int64_t rows_per_rank() const { return (*weight_)[0].rows(); }
  /// H, the embedding width.
  Eigen::Index hidden_size() const { return (*weight_)[0].cols(); }
  /// The all-reduce forward() uses.
  ReduceOrder order() const { return order_; }
  /// E_r (n, H): rows [r n, (r+1) n) of the zero-padded table.
  const PerRank<Matrix>& weight() const { return *weight_; }
  /// The shards' storage, shared with a tied ParallelLMHead.
  const std::shared_ptr<const PerRank<Matrix>>& shared_weight() const { return weight_; }
  /// Rank r's ids [start_r, end_r).
  VocabRange range(int r) const { return vocab_range(V_, p(), r); }

  /// Per rank (T, 1): 1.0f where the token is mine (start_r <= id < end_r), else 0.0f.
  /// \throws std::invalid_argument for a bad id (check_token_ids).
  PerRank<Matrix> masks(const std::vector<std::int64_t>& ids) const;
  /// Per rank, T entries: id - start_r where mine, else 0 (Megatron-LM's masked
  /// index, so a lookup never leaves E_r).
  PerRank<std::vector<std::int64_t>> local_indices(const std::vector<std::int64_t>& ids) const;
  /// Per rank (T, H): row id - start_r of E_r for my tokens, -0.0f rows for
  /// the others (see the file comment). Nothing is communicated. Narrates each rank's range, mask and partial rows.
  /// \throws std::invalid_argument for a bad id, naming it, its position and V.
  PerRank<Matrix> partial_embeddings(World& world, const std::vector<std::int64_t>& ids,
                                     const std::string& label) const;
  /// partial_embeddings, then the all-reduce (sum) by order(): (T, H) on every rank.
  PerRank<Matrix> forward(World& world, const std::vector<std::int64_t>& ids, const std::string& label) const;
  /// Puts E_r in world.memory() as a MemoryKind::Weight entry "LABEL.weight": n H 4 bytes per rank.
  void account_memory(World& world, const std::string& label) const;

 private:
  VocabParallelEmbedding(std::shared_ptr<const PerRank<Matrix>> weight, std::int64_t V, ReduceOrder order)
      : weight_(std::move(weight)), V_(V), order_(order) {}
  std::shared_ptr<const PerRank<Matrix>> weight_;
  std::int64_t V_;
  ReduceOrder order_;
};

/// The dense lookup of a single device: row ids[t] of table (V, H) for each t. The reference.
/// \throws std::invalid_argument for a bad id (check_token_ids).
Matrix embedding_lookup(const Matrix& table, const std::vector<std::int64_t>& ids);

}  // namespace atp::sim
