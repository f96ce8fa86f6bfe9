/// \file vocab_parallel_embedding.hpp
/// \brief VocabParallelEmbedding on one GPU rank: this rank's slice of the
///        padded table on the device, the masked lookup kernel and one
///        all-reduce (chapter 6). The twin of atp::sim::VocabParallelEmbedding.
///
/// Legend: V, V_pad (V rounded up to 64), H, T, p, n = V_pad / p; this rank
/// owns ids [start, end) = [rank n, (rank+1) n) clipped to V. The shard is
/// atp::sim::vocab_shard(table, p, rank), so both sides hold the same bits.
///
/// Bad ids are stopped twice: the host checks every id before the launch
/// (atp::sim::check_token_ids: the error names the id, its position and V),
/// and the kernel itself never reads outside the shard and flags any id it
/// would have to skip (a second line of defence, reported as the same error).
///
/// Leaves out: the backward pass, keeping the ids on the device across calls.
#pragma once

#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace atp::cuda {

/// This rank's part of an embedding table split by vocabulary.
class VocabParallelEmbedding {
 public:
  /// Rank `rank` of p: uploads rows [rank n, (rank+1) n) of the zero-padded table (V, H).
  /// \throws std::invalid_argument as atp::sim::VocabParallelEmbedding::from_master, or for a bad rank.
  static VocabParallelEmbedding from_master(const Matrix& table, int rank, int p);
  /// Uploads this rank's shard read elsewhere (atp::sim::vocab_shard_from_rows): (V_pad / p, H).
  /// \throws std::invalid_argument as atp::sim::check_vocab_shard, or for a bad rank.
  static VocabParallelEmbedding from_shard(const Matrix& shard, std::int64_t V, int rank, int p);

  /// This rank.
  int rank() const { return rank_; }
  /// tp size p.
  int p() const { return p_; }
  /// V.
  std::int64_t vocab_size() const { return V_; }
  /// V_pad.
  std::int64_t padded_vocab_size() const { return static_cast<std::int64_t>(weight_->rows()) * p_; }
  /// n = V_pad / p.
  int rows_per_rank() const { return weight_->rows(); }
  /// H.
  int hidden_size() const { return weight_->cols(); }
  /// This rank's ids [start, end).
  atp::sim::VocabRange range() const { return atp::sim::vocab_range(V_, p_, rank_); }
  /// E_rank (n, H) on the device.
  const DeviceMatrix& weight() const { return *weight_; }
  /// The shard's storage, shared with a tied ParallelLMHead.
  const std::shared_ptr<const DeviceMatrix>& shared_weight() const { return weight_; }

  /// (T, H): my rows for my tokens, -0.0f rows for the others; no communication.
  /// Synchronises `stream` to read the kernel's flag.
  /// \throws std::invalid_argument naming the first bad id, its position and V.
  DeviceMatrix partial_embeddings(const std::vector<std::int64_t>& ids, cudaStream_t stream) const;
  /// partial_embeddings, then the all-reduce (sum) by `form`: (T, H), the same on every rank.
  DeviceMatrix forward(Communicator& comm, const std::vector<std::int64_t>& ids, AllReduceForm form) const;

 private:
  VocabParallelEmbedding(std::shared_ptr<const DeviceMatrix> weight, std::int64_t V, int rank, int p)
      : weight_(std::move(weight)), V_(V), rank_(rank), p_(p) {}
  std::shared_ptr<const DeviceMatrix> weight_;
  std::int64_t V_;
  int rank_;
  int p_;
};

}  // namespace atp::cuda
