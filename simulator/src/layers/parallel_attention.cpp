/// \file parallel_attention.cpp
/// \brief Per-head attention in the canonical order, and the head-parallel layer around it.
#include "atp/sim/layers/parallel_attention.hpp"

#include "atp/attention_order.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/numerics.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/layers/sequence_parallel.hpp"
#include "atp/sim/narrate.hpp"

#include <stdexcept>
#include <utility>

namespace atp::sim {
namespace {

std::string str(long long v) { return std::to_string(v); }

std::string range_text(const HeadRange& r) {
  return r.size() == 1 ? str(r.begin) : str(r.begin) + ".." + str(r.end - 1);
}

}  // namespace

Matrix attention_scores(const Matrix& q, const Matrix& k, bool causal, int query_offset) {
  if (q.cols() != k.cols() || q.cols() < 1)
    throw std::invalid_argument("attention_scores: q " + shape_string(q) + " and k " + shape_string(k) +
                                " need the same head_dim >= 1");
  Matrix s = atp::matmul_nt(q, k);  // dot(t, s): the canonical fma chain over d
  const float scale = atp::attention_scale(static_cast<int>(q.cols()));
  for (Eigen::Index t = 0; t < s.rows(); ++t)
    for (Eigen::Index u = 0; u < s.cols(); ++u)
      s(t, u) = causal && atp::attention_masked(static_cast<int>(t), static_cast<int>(u), query_offset)
                    ? atp::attention_mask_value()
                    : atp::attention_score(s(t, u), scale);
  return s;
}

HeadAttention attention_head(const Matrix& q, const Matrix& k, const Matrix& v, bool causal, int query_offset) {
  if (k.rows() != v.rows() || k.cols() != v.cols())
    throw std::invalid_argument("attention_head: k " + shape_string(k) + " and v " + shape_string(v) +
                                " must have the same shape (S, d)");
  HeadAttention h;
  h.probs = attention_scores(q, k, causal, query_offset);
  for (Eigen::Index t = 0; t < h.probs.rows(); ++t)
    atp::softmax_row(h.probs.row(t).data(), h.probs.row(t).data(), static_cast<int>(h.probs.cols()));
  h.context = atp::matmul_nn(h.probs, v);  // ctx(t, j): fma chain over s ascending
  return h;
}

ParallelAttention ParallelAttention::from_masters(const AttentionWeights& w, int num_heads, int num_kv_heads, int p,
                                                  ParallelAttentionOptions options, int head_dim) {
  const bool bias = w.has_bias();
  QKVParallelLinear qkv = QKVParallelLinear::from_masters(w.Wq, w.Wk, w.Wv, bias ? &w.bq : nullptr,
                                                          bias ? &w.bk : nullptr, bias ? &w.bv : nullptr, num_heads,
                                                          num_kv_heads, p, head_dim);
  const Eigen::Index inner = static_cast<Eigen::Index>(num_heads) * qkv.head_dim();
  if (w.Wo.rows() != qkv.hidden_size() || w.Wo.cols() != inner)
    throw std::invalid_argument("ParallelAttention: Wo is " + shape_string(w.Wo) + ", expected " +
                                shape_string(qkv.hidden_size(), inner) + " = (hidden, num_heads " + str(num_heads) +
                                " * head_dim " + str(qkv.head_dim()) + ")");
  RowParallelOptions ro;
  ro.input_is_parallel = true;
  ro.order = options.order;
  ro.tree_segments = options.tree_segments;
  ro.sequence_parallel = options.sequence_parallel;
  RowParallelLinear out = RowParallelLinear::from_master(w.Wo, bias ? &w.bo : nullptr, p, ro);
  return ParallelAttention(std::move(qkv), std::move(out), options);
}

ParallelAttention ParallelAttention::from_parts(QKVParallelLinear qkv, RowParallelLinear out_proj,
                                              ParallelAttentionOptions options) {
  const Eigen::Index inner = static_cast<Eigen::Index>(qkv.num_heads()) * qkv.head_dim();
  if (out_proj.p() != qkv.p() || out_proj.in_features() != inner || out_proj.out_features() != qkv.hidden_size() ||
      !out_proj.options().input_is_parallel)
    throw std::invalid_argument("ParallelAttention::from_parts: the output projection is (" +
                                str(out_proj.out_features()) + ", " + str(out_proj.in_features()) + ") on tp " +
                                str(out_proj.p()) + "; it must be (hidden " + str(qkv.hidden_size()) +
                                ", num_heads * head_dim " + str(inner) + ") on tp " + str(qkv.p()) +
                                ", input_is_parallel");
  if (out_proj.options().order != options.order ||
      out_proj.options().sequence_parallel != options.sequence_parallel)
    throw std::invalid_argument(std::string("ParallelAttention::from_parts: the output projection reduces in ") +
                                to_string(out_proj.options().order) + " order" +
                                (out_proj.options().sequence_parallel ? " with sequence_parallel" : "") +
                                " but the options ask for " + to_string(options.order) +
                                (options.sequence_parallel ? " with sequence_parallel" : "") +
                                "; build both with the same order and sequence_parallel");
  return ParallelAttention(std::move(qkv), std::move(out_proj), options);
}

PerRank<Matrix> ParallelAttention::local_attention(World& world, const QKVParallelLinear::Parts& parts,
                                                   const std::string& label,
                                                   PerRank<std::vector<Matrix>>* probs, int query_offset) const {
  const int n = p(), d = qkv_.head_dim();
  if (probs != nullptr) *probs = PerRank<std::vector<Matrix>>(n);
  return make_per_rank(n, [&](int r) -> Matrix {
    const HeadAssignment a = qkv_.assignment(r);
    const Eigen::Index T = parts.q[r].rows(), S = parts.k[r].rows();
    Matrix ctx(T, static_cast<Eigen::Index>(a.q_heads.size()) * d);
    for (int i = 0; i < a.q_heads.size(); ++i) {
      const int g = kv_head_of(a.q_heads.begin + i, qkv_.num_heads(), qkv_.num_kv_heads()) - a.kv_heads.begin;
      HeadAttention h = attention_head(parts.q[r].middleCols(static_cast<Eigen::Index>(i) * d, d),
                                       parts.k[r].middleCols(static_cast<Eigen::Index>(g) * d, d),
                                       parts.v[r].middleCols(static_cast<Eigen::Index>(g) * d, d), options_.causal,
                                       query_offset);
      record_matmul(world, r, T, S, d, label + ".scores");
      record_matmul(world, r, T, d, S, label + ".context");
      ctx.middleCols(static_cast<Eigen::Index>(i) * d, d) = h.context;
      if (probs != nullptr) (*probs)[r].push_back(std::move(h.probs));
    }
    return ctx;
  });
}

PerRank<Matrix> ParallelAttention::run(World& world, const PerRank<Matrix>& x, const std::string& label,
                                       const DecodeContext& context, Steps* steps) const {
  const int n = p();
  if (steps != nullptr)
    if (Narrator* nr = world.narrator()) {
      nr->title(label + ": which rank holds which heads (nH=" + str(qkv_.num_heads()) +
                ", nKV=" + str(qkv_.num_kv_heads()) + ", d=" + str(qkv_.head_dim()) + ", p=" + str(n) + ")");
      for (int r = 0; r < n; ++r) {
        const HeadAssignment a = qkv_.assignment(r);
        nr->text("rank " + str(r) + ": Q heads " + range_text(a.q_heads) + ", KV heads " + range_text(a.kv_heads) +
                 (a.kv_replicas > 1 ? " (replicated on " + str(a.kv_replicas) + " ranks)" : ""));
      }
    }
  // Leaving the sequence-parallel region: the QKV projection needs every token on every rank.
  const PerRank<Matrix> x_full =
      options_.sequence_parallel ? gather_from_sequence_parallel_region(world, x, label + ".sp_gather") : x;
  QKVParallelLinear::Parts parts = qkv_.split(qkv_.forward(world, x_full, label + ".qkv"));
  if (steps != nullptr) {
    narrate(world, label + ": q_r = rank r's query heads, x Wq_r^T (no communication)", parts.q);
    narrate(world, label + ": k_r = rank r's KV heads' keys, x Wk_r^T", parts.k);
    narrate(world, label + ": v_r = rank r's KV heads' values (ctx = P v: check a row by hand)", parts.v);
  }
  const int first = context.cache != nullptr ? static_cast<int>(context.cache->length()) : context.position;
  if (context.rotary != nullptr) {
    // Rotary positions: each rank rotates its own heads' columns, no communication.
    parts.q = context.rotary->forward(world, parts.q, first, label + ".rotary(q)");
    parts.k = context.rotary->forward(world, parts.k, first, label + ".rotary(k)");
  }
  int query_offset = 0;
  if (context.cache != nullptr) {
    context.cache->append(parts.k, parts.v);
    for (int r = 0; r < n; ++r) {
      parts.k[r] = context.cache->keys(r);
      parts.v[r] = context.cache->values(r);
    }
    query_offset = first;  // query row t is position first + t among the cached keys
  }
  PerRank<std::vector<Matrix>> probs(n);
  PerRank<Matrix> ctx = local_attention(world, parts, label + ".attn", steps != nullptr ? &probs : nullptr,
                                        query_offset);
  if (steps != nullptr) {
    if (world.narrator() != nullptr)
      narrate(world, label + ": P of each rank's first head, softmax(q k^T / sqrt(d))" +
                         (options_.causal ? std::string(", causal: +0 above the diagonal") : std::string()),
              make_per_rank(n, [&](int r) -> Matrix { return probs[r][0]; }));
    narrate(world, label + ": ctx_r = softmax(q k^T / sqrt(d)) v for rank r's heads, side by side", ctx);
    World scratch(n);  // the partial sums again, for inspection only: the real trace stays exactly forward()'s
    steps->partial = out_proj_.partial_sums(scratch, ctx, label + ".o_proj");
    narrate(world, label + ": partial sums ctx_r Wo_r^T, before the all-reduce", steps->partial);
  }
  PerRank<Matrix> out = out_proj_.forward(world, ctx, label + ".o_proj");
  if (steps != nullptr) {
    narrate(world, label + ": after the one all-reduce (+ bo): every rank holds the output", out);
    steps->qkv = std::move(parts);
    steps->probs = std::move(probs);
    steps->context = std::move(ctx);
    steps->out = out;
  }
  return out;
}

ParallelAttention::Steps ParallelAttention::forward_steps(World& world, const PerRank<Matrix>& x,
                                                          const std::string& label, const DecodeContext& context) const {
  const int n = p();
  Steps s{QKVParallelLinear::Parts{PerRank<Matrix>(n), PerRank<Matrix>(n), PerRank<Matrix>(n)},
          PerRank<std::vector<Matrix>>(n), PerRank<Matrix>(n), PerRank<Matrix>(n), PerRank<Matrix>(n)};
  run(world, x, label, context, &s);
  return s;
}

PerRank<Matrix> ParallelAttention::forward(World& world, const PerRank<Matrix>& x, const std::string& label,
                                           const DecodeContext& context) const {
  // Narrated runs tell the whole story (as forward always did); quiet ones skip the inspection-only partial sums.
  if (world.narrator() != nullptr) return forward_steps(world, x, label, context).out;
  return run(world, x, label, context, nullptr);
}

std::int64_t ParallelAttention::kv_cache_bytes(int rank, std::int64_t tokens) const {
  if (tokens < 0) throw std::invalid_argument("kv_cache_bytes: tokens " + str(tokens) + " must be >= 0");
  const HeadAssignment a = qkv_.assignment(rank);
  return 2 * tokens * a.kv_heads.size() * static_cast<std::int64_t>(qkv_.head_dim()) *
         static_cast<std::int64_t>(sizeof(float));
}

void ParallelAttention::account_memory(World& world, const std::string& label, std::int64_t tokens) const {
  qkv_.account_memory(world, label + ".qkv");
  out_proj_.account_memory(world, label + ".o_proj");
  for (int r = 0; r < p(); ++r)
    world.memory().hold(r, MemoryKind::KVCache, label + ".kv_cache", kv_cache_bytes(r, tokens));
}

}  // namespace atp::sim
