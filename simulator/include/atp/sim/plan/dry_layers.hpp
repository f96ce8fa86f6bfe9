/// \file dry_layers.hpp
/// \brief The tensor-parallel layers of chapters 2-6 without data: each
///        function records the trace events its layer's forward() records for
///        inputs of the given shapes, and throws the layer's own error for a
///        size p cannot split.
///
/// Legend: T = tokens (rows of x), S = keys attended to, H = hidden,
/// I = intermediate, nH / nKV = query / KV heads, d = head_dim, V = vocabulary,
/// p = world.size().
///
/// | function                        | mirrors                                   | events (per rank unless noted)              |
/// |---------------------------------|-------------------------------------------|---------------------------------------------|
/// | column_parallel_linear          | ColumnParallelLinear::forward             | matmul (T, out/p, in) [+ all_gather label.gather] |
/// | merged_column_parallel_linear   | MergedColumnParallelLinear::forward       | matmul (T, sum out_i/p, in) [+ all_gather]  |
/// | row_parallel_linear             | RowParallelLinear::forward                | matmul (T, out, in/p) [+ all-reduce label.all_reduce] |
/// | qkv_parallel_linear             | QKVParallelLinear::forward                | matmul (T, (nH_r + 2 nKV_r) d, H)           |
/// | local_attention                 | ParallelAttention::local_attention        | per local head: matmul label.scores (T, S, d), label.context (T, d, S) |
/// | parallel_attention              | ParallelAttention::forward                | qkv, local_attention, o_proj (row-parallel) |
/// | parallel_mlp / parallel_gated_mlp | ParallelMLP / ParallelGatedMLP::forward | up or gate_up, then down (row-parallel)     |
/// | vocab_parallel_embedding        | VocabParallelEmbedding::forward           | one all-reduce of (T, H), label             |
/// | parallel_lm_head                | ParallelLMHead::forward                   | matmul (T, V_pad/p, H), then all_gather or gather |
/// | lm_head_argmax                  | ParallelLMHead::argmax                    | all_gather of (T, 2) pairs, label.argmax_pairs |
///
/// tests/test_dry_plans.cpp runs each real layer and its dry twin at small
/// sizes for p = 1, 2, 3, 4 and requires equal traces, so a change to a
/// layer's forward that forgets its twin fails a test. Leaves out: the
/// layers' memory accounting (memory.hpp) and narration.
#pragma once

#include "atp/sim/layers/column_parallel_linear.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/plan/dry_collectives.hpp"
#include "atp/sim/world.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp::sim::dry {

/// ColumnParallelLinear (in -> out) on T tokens. Returns the per-rank output shape.
/// \throws std::invalid_argument (tp_divide's message) unless p divides out.
Shape column_parallel_linear(World& world, std::int64_t T, std::int64_t in, std::int64_t out,
                             ColumnParallelOptions options, const std::string& label);

/// MergedColumnParallelLinear (in -> outs[0] + outs[1] + ...). \throws unless p divides every out.
Shape merged_column_parallel_linear(World& world, std::int64_t T, std::int64_t in, const std::vector<std::int64_t>& outs,
                                    ColumnParallelOptions options, const std::string& label);

/// RowParallelLinear (in -> out). \throws unless p divides in.
Shape row_parallel_linear(World& world, std::int64_t T, std::int64_t in, std::int64_t out, RowParallelOptions options,
                          const std::string& label);

/// The attention shape: heads and head size (head_dim 0 = H / nH).
struct AttentionShape {
  std::int64_t hidden = 0;  ///< H
  int heads = 0;            ///< nH
  int kv_heads = 0;         ///< nKV
  int head_dim = 0;         ///< d (0: H / nH)
  /// d, resolved. \throws std::invalid_argument when head_dim = 0 and nH does not divide H.
  int resolved_head_dim() const;
};

/// QKVParallelLinear. \throws check_attention_heads()'s errors.
Shape qkv_parallel_linear(World& world, std::int64_t T, const AttentionShape& a, const std::string& label);

/// ParallelAttention::local_attention for T queries against S keys on every rank.
void local_attention(World& world, std::int64_t T, std::int64_t S, const AttentionShape& a, const std::string& label);

/// ParallelAttention::forward (self-attention, S = T): label.qkv, label.attn, label.o_proj.
Shape parallel_attention(World& world, std::int64_t T, const AttentionShape& a, ReduceOrder order,
                         const std::string& label);

/// ParallelMLP::forward: label.up (H -> I), label.down (I -> H) + all-reduce. \throws unless p divides I.
Shape parallel_mlp(World& world, std::int64_t T, std::int64_t H, std::int64_t I, ReduceOrder order,
                   const std::string& label);

/// ParallelGatedMLP::forward: label.gate_up (H -> 2I merged), label.down. \throws unless p divides I.
Shape parallel_gated_mlp(World& world, std::int64_t T, std::int64_t H, std::int64_t I, ReduceOrder order,
                         const std::string& label);

/// VocabParallelEmbedding::forward of T ids: one all-reduce of (T, H).
/// \throws vocab_per_rank()'s error unless p divides V padded to 64.
Shape vocab_parallel_embedding(World& world, std::int64_t T, std::int64_t V, std::int64_t H, ReduceOrder order,
                               const std::string& label);

/// ParallelLMHead::forward on T rows: local logits, then the logits collective.
/// Returns rank 0's logits shape before the padding is trimmed.
Shape parallel_lm_head(World& world, std::int64_t T, std::int64_t V, std::int64_t H, LogitsCollective collective,
                       const std::string& label);

/// ParallelLMHead::argmax after local_logits: the (T, 2) pairs all-gathered.
Shape lm_head_argmax(World& world, std::int64_t T, const std::string& label);

}  // namespace atp::sim::dry
