/// \file invariant_pipeline.hpp
/// \brief Chapter 11's experiment on the simulator: the layers of chapters
///        4-6 run at one tp in one reduce order, with every output kept.
///
/// Legend: T = tokens, H = hidden, I = intermediate, nH / nKV = heads, V =
/// vocabulary, V_pad = its padding to 64, S = tree segments, p = tp.
///
///     x (T, H) -> GELU MLP                                   -> gelu (T, H)
///     x        -> SwiGLU MLP                                 -> swiglu (T, H)
///     x        -> causal attention (nH, nKV heads)           -> attention (T, H)
///     swiglu   -> LM head (vocab-parallel, exact columns)    -> logits (T, V_pad/p) per rank
///              -> vocab-parallel log-softmax                 -> log_probs (T, V_pad/p) per rank
///
/// The row-parallel sums (both MLPs' down projections, attention's output
/// projection) and the log-softmax's sum of exponentials take `order`:
/// ReduceOrder::RankOrder is ordinary tensor parallelism, ReduceOrder::Tree
/// the blocked tree order. Leaves out: printing (bit_invariant_tp.cpp).
#pragma once

#include "invariant_masters.hpp"

#include "atp/matmul_tree.hpp"
#include "atp/sim/layers/parallel_attention.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/layers/qkv_parallel_linear.hpp"
#include "atp/sim/layers/tp_divide.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"
#include "atp/sim/layers/vocab_parallel_log_softmax.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace atp::ch11 {

/// The chapter's sizes. The defaults admit tp 1, 2, 3, 4, 8 for the ordinary
/// layers (24 heads, I = 192) and tp 1, 2, 4, 8 for the tree order (S = 8).
struct Sizes {
  int T = 8;             ///< tokens
  int H = 96;            ///< hidden
  int I = 192;           ///< intermediate
  int heads = 24;        ///< query heads (d = H / heads = 4)
  int kv_heads = 24;     ///< KV heads
  std::int64_t V = 200;  ///< vocabulary (padded to 256)
  int segments = 8;      ///< S, tree segments
};

/// Every per-rank output of one run.
struct Pipeline {
  sim::PerRank<Matrix> gelu;           ///< (T, H) per rank: the GELU MLP
  sim::PerRank<Matrix> swiglu;         ///< (T, H) per rank: the SwiGLU MLP
  sim::PerRank<Matrix> down_partials;  ///< (T, H) per rank: what the SwiGLU down projection all-reduces
  sim::PerRank<Matrix> attention;      ///< (T, H) per rank: causal attention
  sim::PerRank<Matrix> log_probs;      ///< (T, V_pad/p) per rank; padding ids -inf (empty unless has_log_softmax())
};

/// Why tp p cannot run the pipeline in `order`, or "" if it can: the
/// message each layer's check gives (heads, intermediate; for the tree order
/// also the vocabulary and the segments). In rank order a tp that does not
/// divide V_pad only skips the log-softmax (see has_log_softmax()).
inline std::string unsupported(const Sizes& s, int p, sim::ReduceOrder order) {
  try {
    if (order == sim::ReduceOrder::Tree) atp::check_tree_tp(s.segments, p, "the tree order");
    sim::tp_divide(s.I, p, "intermediate size");
    sim::check_attention_heads(s.heads, s.kv_heads, p);
    if (order == sim::ReduceOrder::Tree) {
      sim::vocab_per_rank(s.V, p);
      atp::tree_split(s.I, s.segments, "intermediate size");
      atp::tree_split(s.H, s.segments, "attention output (heads * head_dim)");
      atp::tree_split(sim::pad_vocab_size(s.V), s.segments, "padded vocabulary");
    }
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

/// True when tp p divides the padded vocabulary, so the vocab-parallel layers can run.
inline bool has_log_softmax(const Sizes& s, int p) { return sim::pad_vocab_size(s.V) % p == 0; }

/// Runs every layer at tp = world.size() in `order` (the log-softmax only if has_log_softmax()).
/// \throws std::invalid_argument as the layers (see unsupported()).
inline Pipeline run_pipeline(sim::World& world, const InvariantMasters& m, const Sizes& s, sim::ReduceOrder order) {
  const int p = world.size();
  const auto x = sim::replicate(m.x, p);
  sim::ParallelMLPOptions mo;
  mo.order = order;
  mo.tree_segments = s.segments;
  Pipeline out;
  out.gelu = sim::ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, p, mo).forward(world, x, "gelu_mlp");
  const auto gated = sim::ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, p, mo);
  const sim::MLPForward f = gated.forward_steps(world, x, "swiglu_mlp");
  out.swiglu = f.output;
  out.down_partials = f.partial_sums;
  sim::ParallelAttentionOptions ao;
  ao.causal = true;
  ao.order = order;
  ao.tree_segments = s.segments;
  out.attention = sim::ParallelAttention::from_masters(m.attn, s.heads, s.kv_heads, p, ao).forward(world, x, "attn");
  if (!has_log_softmax(s, p)) return out;  // log_probs stays empty
  const auto head = sim::ParallelLMHead::from_master(m.W_lm, p);
  const auto logits = head.local_logits(world, out.swiglu, "lm_head");
  out.log_probs = sim::vocab_parallel_log_softmax(world, logits, s.V, {order, s.segments}, "log_softmax");
  return out;
}

/// The real log-probabilities (T, V): the ranks' slices side by side, padding dropped.
inline Matrix joined_log_probs(const Pipeline& pl, std::int64_t V) {
  return pl.log_probs.size() == 0 ? Matrix() : Matrix(sim::concat_cols(pl.log_probs).leftCols(V));
}

}  // namespace atp::ch11
