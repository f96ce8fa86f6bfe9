/// \file parallel_lm_head.hpp
/// \brief ParallelLMHead: the output projection split by vocabulary, its
///        logits gathered to every rank or to rank 0, and a vocab-parallel
///        greedy argmax that moves only (max value, index) pairs (chapter 6).
///
/// Legend: V, V_pad, H, T, p, n = V_pad / p as in vocab_parallel_embedding.hpp.
///
/// The weight W (V, H) is padded and split exactly like the embedding table
/// (often it *is* the embedding table: tied weights, one storage). Rank r
/// computes its logits slice z_r = x W_r^T, (T, n), with atp::matmul_nt: each
/// logit is one complete dot product over H in the canonical fma order, so
/// the slices are the columns of the dense logits, bit for bit. Then:
///
/// - LogitsCollective::AllGather: every rank gets [z_0 | ... | z_{p-1}]
///   (T, V_pad) and drops the padding columns: (T, V). Megatron-LM's output
///   layer (ColumnParallelLinear with gather_output) and vLLM's V1 engine
///   (LogitsProcessor._gather_logits all-gathers whenever
///   Platform.use_all_gather() is true, which it is under V1).
/// - LogitsCollective::Gather: only rank 0 gets (T, V); the others get (0, 0).
///   vLLM's V0 engine, where only the driver rank sampled
///   (tensor_model_parallel_gather in the same function).
///
/// Greedy argmax without the logits (vLLM ships the same idea as
/// LogitsProcessor.get_top_tokens, which also sends (value, index) pairs as
/// float32 and lets the lowest rank win a tie): each rank finds, per token, the largest
/// logit among its real (non-padding) columns and the lowest global id among
/// equal maxima, packs (value, global id) into a (T, 2) matrix and one
/// all_gather along columns gives every rank the p pairs, (T, 2p). Comparing
/// pairs (larger value wins, equal values go to the lower id) yields the
/// dense argmax exactly: a maximum is exact in any order, and the lowest id
/// among ties is the lowest of the ranks' lowest ids. The id travels as a
/// float, exact for ids below 2^24 (checked); the pair exchange is traced as
/// an ordinary all_gather, 2 T 4 (p-1) bytes per rank instead of the logits
/// gather's T n 4 (p-1).
///
/// Leaves out: sampling other than greedy, logit soft-capping and scaling,
/// the backward pass (vocab-parallel cross-entropy).
#pragma once

#include "atp/sim/layers/vocab_parallel_embedding.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace atp::sim {

/// Where the full logits go.
enum class LogitsCollective {
  AllGather,  ///< every rank gets (T, V)
  Gather      ///< rank 0 gets (T, V); the others (0, 0)
};

/// "all-gather" or "gather".
const char* to_string(LogitsCollective c);
/// Parses to_string(LogitsCollective) names. \throws std::invalid_argument naming the text and the valid names.
LogitsCollective parse_logits_collective(const std::string& text);

/// Largest vocabulary whose ids travel exactly as floats in the argmax pairs: 2^24.
inline constexpr std::int64_t kMaxArgmaxVocab = std::int64_t{1} << 24;

/// One rank's (T, 2) argmax pairs from its local logits (T, n): column 0 the
/// largest of the first range.size() columns (the real ids; padding columns
/// are skipped), column 1 its global id start + j for the lowest such j. A rank
/// with an empty range gives (-inf, V) so that it loses every comparison.
/// \throws std::invalid_argument if the range does not fit the logits' columns.
Matrix local_argmax_pairs(const Matrix& local_logits, const VocabRange& range, std::int64_t V);

/// The winner of the gathered pairs (T, 2p) = [value_0, id_0, value_1, id_1, ...]:
/// per token the largest value; among equal values the lowest id.
/// \throws std::invalid_argument unless the matrix has an even, non-zero number of columns.
std::vector<std::int64_t> combine_argmax_pairs(const Matrix& gathered_pairs);

/// The dense reference: per row of logits (T, V), the lowest column holding the row's maximum.
std::vector<std::int64_t> dense_argmax(const Matrix& logits);

/// The LM head weight (V, H) split by vocabulary across p ranks.
class ParallelLMHead {
 public:
  /// Pads W (V, H) with zero rows to V_pad and gives rank r rows [r n, (r+1) n).
  /// \throws std::invalid_argument as VocabParallelEmbedding::from_master.
  static ParallelLMHead from_master(const Matrix& W, int p);
  /// Wraps shards read elsewhere: shards[r] (V_pad / p, H) (vocab_shard_from_rows()).
  /// \throws std::invalid_argument as check_vocab_shard for every rank.
  static ParallelLMHead from_shards(PerRank<Matrix> shards, std::int64_t V);
  /// Tied weights: shares the embedding's shards (the same storage, not a copy).
  static ParallelLMHead tied(const VocabParallelEmbedding& embedding);

  /// tp size p.
  int p() const { return weight_->size(); }
  /// V, the real vocabulary size.
  std::int64_t vocab_size() const { return V_; }
  /// V_pad.
  std::int64_t padded_vocab_size() const { return static_cast<std::int64_t>((*weight_)[0].rows()) * p(); }
  /// H.
  Eigen::Index hidden_size() const { return (*weight_)[0].cols(); }
  /// W_r (n, H), padding rows zero.
  const PerRank<Matrix>& weight() const { return *weight_; }
  /// True when this head uses `embedding`'s storage (tied weights).
  bool is_tied_to(const VocabParallelEmbedding& embedding) const {
    return weight_ == embedding.shared_weight();
  }
  /// Rank r's ids [start_r, end_r).
  VocabRange range(int r) const { return vocab_range(V_, p(), r); }

  /// z_r = x_r W_r^T per rank, (T, n), padding columns included; x_r is (T, H),
  /// the same on every rank. Records the matmuls in the trace.
  PerRank<Matrix> local_logits(World& world, const PerRank<Matrix>& x, const std::string& label) const;
  /// local_logits, then the chosen collective and the padding trimmed: (T, V)
  /// on every rank (AllGather) or on rank 0 only, (0, 0) elsewhere (Gather).
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, LogitsCollective collective,
                          const std::string& label) const;
  /// Gathers the local (T, n) logits as forward() does, from logits already computed.
  PerRank<Matrix> gather_logits(World& world, const PerRank<Matrix>& local, LogitsCollective collective,
                                const std::string& label) const;
  /// The vocab-parallel greedy argmax of local logits (T, n) per rank: local
  /// pairs, one all_gather of the (T, 2) pairs (label "LABEL.argmax_pairs"),
  /// combine. Every rank gets the same T ids.
  PerRank<std::vector<std::int64_t>> argmax(World& world, const PerRank<Matrix>& local,
                                            const std::string& label) const;
  /// Puts W_r in world.memory() as "LABEL.weight", unless tied (then it is the
  /// embedding's entry and nothing new is held).
  void account_memory(World& world, const std::string& label, const VocabParallelEmbedding* tied_to = nullptr) const;

 private:
  ParallelLMHead(std::shared_ptr<const PerRank<Matrix>> weight, std::int64_t V) : weight_(std::move(weight)), V_(V) {}
  std::shared_ptr<const PerRank<Matrix>> weight_;
  std::int64_t V_;
};

}  // namespace atp::sim
