/// \file replicated_norm.hpp
/// \brief ReplicatedNorm: RMSNorm or LayerNorm run whole on every rank, as
///        Megatron-LM and vLLM run a decoder's norms under tensor parallelism (chapter 7).
///
/// Legend: T = tokens, H = hidden.
///
/// A norm needs every feature of a token (its mean or its mean square), and
/// after each block's all-reduce every rank holds the whole (T, H) anyway, so
/// each rank keeps a full copy of the (1, H) weight (and bias) and normalises
/// the same rows: the same arithmetic on the same bits, so all ranks agree
/// without communicating. The cost is H floats per rank and T H work
/// repeated p times, which sequence parallelism (chapter 12) removes.
///
/// Each row is atp::rmsnorm_row or atp::layernorm_row: the 32-lane order of
/// NUMERICS.md section 2, which the GPU's one-warp-per-row kernels follow.
/// Leaves out: fused residual + norm, norm without a weight.
#pragma once

#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <string>

namespace atp::sim {

/// Which normalisation.
enum class NormKind {
  RMSNorm,   ///< x / sqrt(mean(x^2) + eps) * w (Llama)
  LayerNorm  ///< (x - mean) / sqrt(var + eps) * w + b (GPT)
};

/// A norm whose weight every rank holds whole.
class ReplicatedNorm {
 public:
  /// RMSNorm with weight[r] (1, H) on each rank r (the copies each rank read).
  /// \throws std::invalid_argument naming the rank and shapes unless every copy is (1, H), H >= 1.
  static ReplicatedNorm rms(PerRank<Matrix> weight, float eps);
  /// LayerNorm with weight[r], bias[r] (1, H) on each rank r.
  static ReplicatedNorm layer(PerRank<Matrix> weight, PerRank<Matrix> bias, float eps);

  /// Which norm.
  NormKind kind() const { return kind_; }
  /// Ranks.
  int p() const { return weight_.size(); }
  /// H.
  Eigen::Index hidden() const { return weight_[0].cols(); }
  /// epsilon.
  float eps() const { return eps_; }
  /// Rank r's copy of the weight (1, H).
  const PerRank<Matrix>& weight() const { return weight_; }
  /// Rank r's copy of the bias (1, H), or (0, 0) for RMSNorm.
  const PerRank<Matrix>& bias() const { return bias_; }

  /// Rank `rank`'s norm of every row of x (T, H).
  /// \throws std::invalid_argument naming the shapes unless x is (T, H).
  Matrix apply(int rank, const Matrix& x) const;
  /// apply() on every rank (no communication).
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, const std::string& label) const;
  /// Puts the weight (and bias) in world.memory() as LABEL.weight (.bias) on every rank.
  void account_memory(World& world, const std::string& label) const;

 private:
  ReplicatedNorm(NormKind kind, PerRank<Matrix> weight, PerRank<Matrix> bias, float eps)
      : kind_(kind), weight_(std::move(weight)), bias_(std::move(bias)), eps_(eps) {}
  NormKind kind_;
  PerRank<Matrix> weight_;
  PerRank<Matrix> bias_;
  float eps_;
};

/// x + y elementwise, one rounded add per element (the residual connection);
/// \throws std::invalid_argument naming the shapes if they differ.
Matrix residual_add(const Matrix& x, const Matrix& y);

}  // namespace atp::sim
