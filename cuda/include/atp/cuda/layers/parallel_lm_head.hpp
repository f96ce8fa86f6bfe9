/// \file parallel_lm_head.hpp
/// \brief ParallelLMHead on one GPU rank: local logits with the canonical
///        matmul, the logits all-gather or gather to rank 0 (padding
///        trimmed), and the greedy argmax that moves only (value, id) pairs
///        (chapter 6). The twin of atp::sim::ParallelLMHead.
///
/// Legend: V, V_pad, H, T, p, n = V_pad / p as in vocab_parallel_embedding.hpp.
/// The pair exchange is one ncclAllGather of a (T, 2) matrix per rank, as
/// the simulator traces it; the pairs are combined on the host by
/// atp::sim::combine_argmax_pairs, the same code the simulator runs.
///
/// Leaves out: sampling other than greedy, logit scaling, keeping the logits
/// in bf16.
#pragma once

#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/layers/vocab_parallel_embedding.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace atp::cuda {

using atp::sim::LogitsCollective;

/// This rank's part of an LM head split by vocabulary.
class ParallelLMHead {
 public:
  /// Rank `rank` of p: uploads rows [rank n, (rank+1) n) of the zero-padded W (V, H).
  /// \throws std::invalid_argument as atp::sim::ParallelLMHead::from_master, or for a bad rank.
  static ParallelLMHead from_master(const Matrix& W, int rank, int p);
  /// Uploads this rank's shard read elsewhere (atp::sim::vocab_shard_from_rows): (V_pad / p, H).
  /// \throws std::invalid_argument as atp::sim::check_vocab_shard, or for a bad rank.
  static ParallelLMHead from_shard(const Matrix& shard, std::int64_t V, int rank, int p);
  /// Tied weights: the embedding's device shard, shared, not copied.
  static ParallelLMHead tied(const VocabParallelEmbedding& embedding);

  /// This rank.
  int rank() const { return rank_; }
  /// tp size p.
  int p() const { return p_; }
  /// V.
  std::int64_t vocab_size() const { return V_; }
  /// H.
  int hidden_size() const { return weight_->cols(); }
  /// This rank's ids [start, end).
  atp::sim::VocabRange range() const { return atp::sim::vocab_range(V_, p_, rank_); }
  /// W_rank (n, H) on the device.
  const DeviceMatrix& weight() const { return *weight_; }
  /// True when this head uses `embedding`'s device storage.
  bool is_tied_to(const VocabParallelEmbedding& embedding) const { return weight_ == embedding.shared_weight(); }

  /// z (T, n) = x (T, H) W_rank^T with atp::cuda::matmul_nt (the canonical fma order).
  DeviceMatrix local_logits(const DeviceMatrix& x, cudaStream_t stream) const;
  /// The full logits from the local ones, padding trimmed: (T, V) on every
  /// rank (AllGather) or on rank 0 only, (0, 0) elsewhere (Gather).
  DeviceMatrix gather_logits(Communicator& comm, const DeviceMatrix& local, LogitsCollective collective) const;
  /// local_logits then gather_logits.
  DeviceMatrix forward(Communicator& comm, const DeviceMatrix& x, LogitsCollective collective) const;
  /// (T, 2) pairs (max value, global id) of this rank's real columns (launch_local_argmax_pairs).
  DeviceMatrix local_argmax_pairs(const DeviceMatrix& local, cudaStream_t stream) const;
  /// The greedy ids: local pairs, one all-gather of (T, 2) along columns, the host combine.
  std::vector<std::int64_t> argmax(Communicator& comm, const DeviceMatrix& local) const;

 private:
  ParallelLMHead(std::shared_ptr<const DeviceMatrix> weight, std::int64_t V, int rank, int p)
      : weight_(std::move(weight)), V_(V), rank_(rank), p_(p) {}
  std::shared_ptr<const DeviceMatrix> weight_;
  std::int64_t V_;
  int rank_;
  int p_;
};

}  // namespace atp::cuda
