/// \file dry_layers.cpp
/// \brief The dry twins of the chapter 2-6 layers: their forward()'s trace events from shapes.
#include "atp/sim/plan/dry_layers.hpp"

#include "atp/sim/compute.hpp"
#include "atp/sim/layers/qkv_parallel_linear.hpp"
#include "atp/sim/layers/tp_divide.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"

#include <stdexcept>

namespace atp::sim::dry {

namespace {

/// One matmul (M, K) x (K, N) per rank, in rank order, as linear(world, x, W, ...) records it.
void matmul_every_rank(World& world, std::int64_t M, std::int64_t N, std::int64_t K, const std::string& label) {
  for (int r = 0; r < world.size(); ++r) record_matmul(world, r, M, N, K, label);
}

}  // namespace

Shape column_parallel_linear(World& world, std::int64_t T, std::int64_t in, std::int64_t out,
                             ColumnParallelOptions options, const std::string& label) {
  const std::int64_t local = tp_divide(out, world.size(), "out_features");
  matmul_every_rank(world, T, local, in, label);
  if (!options.gather_output) return {T, local};
  return all_gather(world, {T, local}, Axis::Cols, label + ".gather");
}

Shape merged_column_parallel_linear(World& world, std::int64_t T, std::int64_t in, const std::vector<std::int64_t>& outs,
                                    ColumnParallelOptions options, const std::string& label) {
  if (outs.empty()) throw std::invalid_argument("MergedColumnParallelLinear: no weights given; need at least one");
  std::int64_t local = 0;
  for (std::size_t i = 0; i < outs.size(); ++i)
    local += tp_divide(outs[i], world.size(), "weight " + std::to_string(i) + " out_features");
  matmul_every_rank(world, T, local, in, label);
  if (!options.gather_output) return {T, local};
  return all_gather(world, {T, local}, Axis::Cols, label + ".gather");
}

Shape row_parallel_linear(World& world, std::int64_t T, std::int64_t in, std::int64_t out, RowParallelOptions options,
                          const std::string& label) {
  const std::int64_t local = tp_divide(in, world.size(), "in_features");
  matmul_every_rank(world, T, out, local, label);
  if (!options.reduce_results) return {T, out};
  return all_reduce(world, options.order, {T, out}, label + ".all_reduce");
}

int AttentionShape::resolved_head_dim() const {
  if (head_dim > 0) return head_dim;
  if (heads < 1 || hidden % heads != 0)
    throw std::invalid_argument("attention: hidden size " + std::to_string(hidden) + " is not divisible by num_heads " +
                                std::to_string(heads) + ", so head_dim = hidden / num_heads is undefined");
  return static_cast<int>(hidden / heads);
}

Shape qkv_parallel_linear(World& world, std::int64_t T, const AttentionShape& a, const std::string& label) {
  check_attention_heads(a.heads, a.kv_heads, world.size());
  const int d = a.resolved_head_dim();
  const HeadAssignment h = head_assignment(a.heads, a.kv_heads, world.size(), 0);
  const std::int64_t width = static_cast<std::int64_t>(h.q_heads.size() + 2 * h.kv_heads.size()) * d;
  matmul_every_rank(world, T, width, a.hidden, label);
  return {T, width};
}

void local_attention(World& world, std::int64_t T, std::int64_t S, const AttentionShape& a, const std::string& label) {
  check_attention_heads(a.heads, a.kv_heads, world.size());
  const int d = a.resolved_head_dim();
  for (int r = 0; r < world.size(); ++r) {
    const HeadAssignment h = head_assignment(a.heads, a.kv_heads, world.size(), r);
    for (int i = 0; i < h.q_heads.size(); ++i) {
      record_matmul(world, r, T, S, d, label + ".scores");
      record_matmul(world, r, T, d, S, label + ".context");
    }
  }
}

Shape parallel_attention(World& world, std::int64_t T, const AttentionShape& a, ReduceOrder order,
                         const std::string& label) {
  qkv_parallel_linear(world, T, a, label + ".qkv");
  local_attention(world, T, T, a, label + ".attn");
  RowParallelOptions row;
  row.input_is_parallel = true;
  row.order = order;
  const std::int64_t inner = static_cast<std::int64_t>(a.heads) * a.resolved_head_dim();
  return row_parallel_linear(world, T, inner, a.hidden, row, label + ".o_proj");
}

Shape parallel_mlp(World& world, std::int64_t T, std::int64_t H, std::int64_t I, ReduceOrder order,
                   const std::string& label) {
  tp_divide(I, world.size(), "ParallelMLP: intermediate size");
  column_parallel_linear(world, T, H, I, {}, label + ".up");
  RowParallelOptions row;
  row.order = order;
  return row_parallel_linear(world, T, I, H, row, label + ".down");
}

Shape parallel_gated_mlp(World& world, std::int64_t T, std::int64_t H, std::int64_t I, ReduceOrder order,
                         const std::string& label) {
  tp_divide(I, world.size(), "ParallelGatedMLP: intermediate size");
  merged_column_parallel_linear(world, T, H, {I, I}, {}, label + ".gate_up");
  RowParallelOptions row;
  row.order = order;
  return row_parallel_linear(world, T, I, H, row, label + ".down");
}

Shape vocab_parallel_embedding(World& world, std::int64_t T, std::int64_t V, std::int64_t H, ReduceOrder order,
                               const std::string& label) {
  vocab_per_rank(V, world.size());
  return all_reduce(world, order, {T, H}, label);
}

Shape parallel_lm_head(World& world, std::int64_t T, std::int64_t V, std::int64_t H, LogitsCollective collective,
                       const std::string& label) {
  const std::int64_t n = vocab_per_rank(V, world.size());
  matmul_every_rank(world, T, n, H, label);
  if (collective == LogitsCollective::AllGather) return all_gather(world, {T, n}, Axis::Cols, label);
  return gather(world, {T, n}, 0, Axis::Cols, label);
}

Shape lm_head_argmax(World& world, std::int64_t T, const std::string& label) {
  return all_gather(world, {T, 2}, Axis::Cols, label + ".argmax_pairs");
}

}  // namespace atp::sim::dry
