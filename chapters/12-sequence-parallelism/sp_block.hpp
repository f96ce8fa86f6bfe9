/// \file sp_block.hpp
/// \brief Chapter 12's transformer block, assembled from the chapter 4-5
///        layers, in two forms: tensor-parallel (the norms and residuals on
///        every rank, on every token) and sequence-parallel (the norms and
///        residuals on rank r's tokens only).
///
/// Legend: T = tokens, H = hidden, I = intermediate, p = tp, T/p = tokens per rank.
///
///     TP:   x (T, H) on every rank                      SP:   x_r (T/p, H) on rank r
///           n  = rmsnorm(x)          (T, H)                   n_r = rmsnorm(x_r)             (T/p, H)
///           a  = attention(n)        all-reduce                a_r = attention(n_r)           all-gather in, reduce-scatter out
///           h  = x + a               (T, H)                   h_r = x_r + a_r                (T/p, H)
///           n2 = rmsnorm(h)          (T, H)                   n2_r = rmsnorm(h_r)            (T/p, H)
///           m  = mlp(n2)             all-reduce                m_r = mlp(n2_r)                all-gather in, reduce-scatter out
///           y  = h + m               (T, H)                   y_r = h_r + m_r                (T/p, H)
///
/// RMSNorm and the residual add treat each token on its own, so rank r's
/// rows are computed exactly as in the TP block, and a reduce-scatter in rank
/// order is the rows of the rank-order all-reduce: SP gives rank r rows
/// [r T/p, (r+1) T/p) of the TP output, bit for bit. The norms' gamma is
/// replicated (Megatron marks such weights `sequence_parallel` so their
/// gradients get all-reduced; forward needs nothing).
///
/// forward() records in world.memory() (MemoryKind::Activation) every tensor
/// of the norm/residual regions it holds, named "blockL.<tensor>", and, in SP,
/// the two gathered inputs "blockL.attn_gathered" / "blockL.mlp_gathered"
/// that live only while the next layer runs (Megatron's global buffer).
/// Leaves out: KV caches, rotary positions, dropout, the backward pass.
#pragma once

#include "atp/attention_weights.hpp"
#include "atp/numerics.hpp"
#include "atp/rng.hpp"
#include "atp/sim/layers/parallel_attention.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/layers/sequence_parallel.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace atp::ch12 {

/// The block's sizes. The defaults admit tp 1, 2, 3, 4, 8 (24 tokens, 24 heads, I = 192).
struct BlockSizes {
  int T = 24;          ///< tokens
  int H = 96;          ///< hidden
  int I = 192;         ///< intermediate
  int heads = 24;      ///< query heads (d = H / heads)
  int kv_heads = 24;   ///< KV heads
  float eps = 1e-5f;   ///< RMSNorm epsilon
};

/// One block's master weights.
struct BlockWeights {
  Matrix norm1;           ///< the first RMSNorm's gamma (1, H)
  Matrix norm2;           ///< the second RMSNorm's gamma (1, H)
  AttentionWeights attn;  ///< Wq, Wk, Wv, Wo (no biases: Llama)
  Matrix W_gate;          ///< (I, H)
  Matrix W_up;            ///< (I, H)
  Matrix W_down;          ///< (H, I)
};

/// Block `layer`'s weights from `seed` (streams 1000 layer + 0..4, attention 1000 layer + 100..).
inline BlockWeights make_block_weights(const BlockSizes& s, int layer, std::uint64_t seed) {
  const std::uint64_t base = 1000 * static_cast<std::uint64_t>(layer);
  auto scale = [](int in) { return static_cast<float>(1.7 / std::sqrt(static_cast<double>(in))); };
  BlockWeights w;
  w.norm1 = (random_matrix(1, s.H, seed, base + 0, 0.25f).array() + 1.0f).matrix();
  w.norm2 = (random_matrix(1, s.H, seed, base + 1, 0.25f).array() + 1.0f).matrix();
  w.W_gate = random_matrix(s.I, s.H, seed, base + 2, scale(s.H));
  w.W_up = random_matrix(s.I, s.H, seed, base + 3, scale(s.H));
  w.W_down = random_matrix(s.H, s.I, seed, base + 4, scale(s.I));
  w.attn = random_attention_weights(s.H, s.heads, s.kv_heads, s.H / s.heads, seed, false, base + 100);
  return w;
}

/// RMSNorm of every row of x with gamma (1, H): atp::rmsnorm_row per row, each row on its own.
inline Matrix rmsnorm(const Matrix& x, const Matrix& gamma, float eps) {
  Matrix y(x.rows(), x.cols());
  for (Eigen::Index t = 0; t < x.rows(); ++t)
    atp::rmsnorm_row(x.row(t).data(), gamma.data(), eps, y.row(t).data(), static_cast<int>(x.cols()));
  return y;
}

/// One pre-norm block, tensor-parallel or sequence-parallel.
class ParallelBlock {
 public:
  /// Shards the weights over p ranks. \throws std::invalid_argument as the layers.
  ParallelBlock(const BlockWeights& w, const BlockSizes& s, int p, bool sequence_parallel, sim::ReduceOrder order)
      : w_(w), s_(s), sp_(sequence_parallel),
        attn_(sim::ParallelAttention::from_masters(w.attn, s.heads, s.kv_heads, p, attention_options(order))),
        mlp_(sim::ParallelGatedMLP::from_master(w.W_gate, w.W_up, w.W_down, p, mlp_options(order))) {}

  /// x: (T, H) on every rank (TP) or rank r's (T/p, H) (SP); returns the same layout.
  sim::PerRank<Matrix> forward(sim::World& world, const sim::PerRank<Matrix>& x, const std::string& label) const {
    const int p = world.size();
    auto per_rank = [&](auto&& f) { return sim::make_per_rank(p, [&](int r) -> Matrix { return f(r); }); };
    const auto n1 = per_rank([&](int r) { return rmsnorm(x[r], w_.norm1, s_.eps); });
    const auto a = attn_.forward(world, n1, label + ".attn");
    const auto h = per_rank([&](int r) -> Matrix { return x[r] + a[r]; });
    const auto n2 = per_rank([&](int r) { return rmsnorm(h[r], w_.norm2, s_.eps); });
    const auto m = mlp_.forward(world, n2, label + ".mlp");
    auto y = per_rank([&](int r) -> Matrix { return h[r] + m[r]; });
    for (int r = 0; r < p; ++r) {
      auto hold = [&](const char* name, const Matrix& t) {
        world.memory().hold(r, sim::MemoryKind::Activation, label + "." + name, t);
      };
      hold("input", x[r]);
      hold("norm1", n1[r]);
      hold("attn_out", a[r]);
      hold("residual1", h[r]);
      hold("norm2", n2[r]);
      hold("mlp_out", m[r]);
      if (sp_) {  // the all-gathered copies the column-parallel layers read
        world.memory().hold(r, sim::MemoryKind::Activation, label + ".attn_gathered",
                            fp32_bytes(static_cast<Eigen::Index>(s_.T), s_.H));
        world.memory().hold(r, sim::MemoryKind::Activation, label + ".mlp_gathered",
                            fp32_bytes(static_cast<Eigen::Index>(s_.T), s_.H));
      }
    }
    return y;
  }

  /// True for the sequence-parallel form.
  bool sequence_parallel() const { return sp_; }

 private:
  sim::ParallelAttentionOptions attention_options(sim::ReduceOrder order) const {
    sim::ParallelAttentionOptions o;
    o.causal = true;
    o.order = order;
    o.sequence_parallel = sp_;
    return o;
  }
  sim::ParallelMLPOptions mlp_options(sim::ReduceOrder order) const {
    sim::ParallelMLPOptions o;
    o.order = order;
    o.sequence_parallel = sp_;
    return o;
  }
  BlockWeights w_;
  BlockSizes s_;
  bool sp_;
  sim::ParallelAttention attn_;
  sim::ParallelGatedMLP mlp_;
};

/// L blocks, TP or SP. x_full (T, H) is replicated (TP) or scattered by rows (SP) first.
inline sim::PerRank<Matrix> run_blocks(sim::World& world, const std::vector<BlockWeights>& layers, const BlockSizes& s,
                                       const Matrix& x_full, bool sequence_parallel, sim::ReduceOrder order) {
  const int p = world.size();
  sim::PerRank<Matrix> x = sequence_parallel ? sim::scatter_to_sequence_parallel_region(x_full, p)
                                             : sim::replicate(x_full, p);
  for (std::size_t l = 0; l < layers.size(); ++l)
    x = ParallelBlock(layers[l], s, p, sequence_parallel, order).forward(world, x, "block" + std::to_string(l));
  return x;
}

}  // namespace atp::ch12
