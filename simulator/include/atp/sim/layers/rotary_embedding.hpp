/// \file rotary_embedding.hpp
/// \brief RotaryEmbedding: rotary position embeddings applied to each rank's
///        own query and key heads, with no communication (chapter 7).
///
/// Legend: T = tokens, d = head_dim, n = heads on this rank, S = max positions.
///
/// Like vLLM's RotaryEmbedding it keeps a cos/sin cache, (S, d/2) each, whose
/// entry (pos, i) is atp::rope_cos_sin(pos, i, d, theta) (atp/rotary.hpp):
/// built once from the shared numerics, so the GPU, which builds its cache
/// with the same function in a kernel, holds the same bits. apply() rotates
/// pair i of every head of row t by the angle of position first + t:
///
///     x (T, n d) = [ head 0 | head 1 | ... ]      each head: pairs (2i, 2i+1) or (i, i + d/2)
///     y0 = fma(x0, cos, -(x1 sin)),  y1 = fma(x0, sin, x1 cos)    (atp::rope_rotate_pair)
///
/// Why RoPE stays local under tensor parallelism: the rotation mixes two
/// elements of the same head and nothing across heads, and QKVParallelLinear
/// gives every rank whole heads. So a rank rotates its own q and k columns
/// with the same table every rank holds: no collective, and the result is
/// the dense model's columns bit for bit (nothing is summed).
///
/// Leaves out: RoPE scaling (linear, NTK, YaRN, Llama 3), partial rotary
/// dimensions, positions other than consecutive ones (packed batches).
#pragma once

#include "atp/rotary.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <string>

namespace atp::sim {

/// The cos/sin cache and the rotation of heads by position.
class RotaryEmbedding {
 public:
  /// Builds the (S, d/2) cos and sin caches.
  /// \throws std::invalid_argument unless d >= 2 is even, 1 <= S <= 2^20 and theta > 1 is finite.
  RotaryEmbedding(int head_dim, int max_positions, float theta, RopeStyle style);

  /// d.
  int head_dim() const { return head_dim_; }
  /// S: positions 0..S-1 have a table row.
  int max_positions() const { return static_cast<int>(cos_.rows()); }
  /// The base.
  float theta() const { return theta_; }
  /// Which elements pair up.
  RopeStyle style() const { return style_; }
  /// cos of every (position, pair): (S, d/2).
  const Matrix& cos() const { return cos_; }
  /// sin of every (position, pair): (S, d/2).
  const Matrix& sin() const { return sin_; }

  /// x (T, n d) with every head rotated for positions first..first+T-1.
  /// \throws std::invalid_argument if the columns are not whole heads or a
  ///         position is outside [0, S) (names both).
  Matrix apply(const Matrix& x, int first_position) const;

  /// apply() on every rank's own heads (rank-local, nothing communicated).
  PerRank<Matrix> forward(World& world, const PerRank<Matrix>& x, int first_position, const std::string& label) const;

  /// Bytes of the cos and sin caches (every rank holds both): 2 S (d/2) 4.
  std::int64_t cache_bytes() const { return 2 * fp32_bytes(cos_.rows(), cos_.cols()); }

  /// Puts the caches in world.memory() as Weight "LABEL.cos_sin_cache" on every rank.
  void account_memory(World& world, const std::string& label) const;

 private:
  int head_dim_;
  float theta_;
  RopeStyle style_;
  Matrix cos_;
  Matrix sin_;
};

}  // namespace atp::sim
