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

Matrix attention_scores(const Matrix& q, const Matrix& k, bool causal) {
  if (q.cols() != k.cols() || q.cols() < 1)
    throw std::invalid_argument("attention_scores: q " + shape_string(q) + " and k " + shape_string(k) +
                                " need the same head_dim >= 1");
  Matrix s = atp::matmul_nt(q, k);  // dot(t, s): the canonical fma chain over d
  const float scale = atp::attention_scale(static_cast<int>(q.cols()));
  for (Eigen::Index t = 0; t < s.rows(); ++t)
    for (Eigen::Index u = 0; u < s.cols(); ++u)
      s(t, u) = causal && atp::attention_masked(static_cast<int>(t), static_cast<int>(u))
                    ? atp::attention_mask_value()
                    : atp::attention_score(s(t, u), scale);
  return s;
}

HeadAttention attention_head(const Matrix& q, const Matrix& k, const Matrix& v, bool causal) {
  if (k.rows() != v.rows() || k.cols() != v.cols())
    throw std::invalid_argument("attention_head: k " + shape_string(k) + " and v " + shape_string(v) +
                                " must have the same shape (S, d)");
  HeadAttention h;
  h.probs = attention_scores(q, k, causal);
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

PerRank<Matrix> ParallelAttention::local_attention(World& world, const QKVParallelLinear::Parts& parts,
                                                   const std::string& label,
                                                   PerRank<std::vector<Matrix>>* probs) const {
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
                                       parts.v[r].middleCols(static_cast<Eigen::Index>(g) * d, d), options_.causal);
      record_matmul(world, r, T, S, d, label + ".scores");
      record_matmul(world, r, T, d, S, label + ".context");
      ctx.middleCols(static_cast<Eigen::Index>(i) * d, d) = h.context;
      if (probs != nullptr) (*probs)[r].push_back(std::move(h.probs));
    }
    return ctx;
  });
}

ParallelAttention::Steps ParallelAttention::forward_steps(World& world, const PerRank<Matrix>& x,
                                                          const std::string& label) const {
  const int n = p();
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
  Steps s{qkv_.split(qkv_.forward(world, x_full, label + ".qkv")), PerRank<std::vector<Matrix>>(n),
          PerRank<Matrix>(n), PerRank<Matrix>(n), PerRank<Matrix>(n)};
  narrate(world, label + ": q_r = rank r's query heads, x Wq_r^T (no communication)", s.qkv.q);
  narrate(world, label + ": k_r = rank r's KV heads' keys", s.qkv.k);
  narrate(world, label + ": v_r = rank r's KV heads' values (ctx = P v: check a row by hand)", s.qkv.v);
  s.context = local_attention(world, s.qkv, label + ".attn", &s.probs);
  if (world.narrator() != nullptr)
    narrate(world, label + ": P of each rank's first head, softmax(q k^T / sqrt(d))" +
                       (options_.causal ? std::string(", causal: +0 above the diagonal") : std::string()),
            make_per_rank(n, [&](int r) -> Matrix { return s.probs[r][0]; }));
  narrate(world, label + ": ctx_r = softmax(q k^T / sqrt(d)) v for rank r's heads, side by side", s.context);
  World scratch(n);  // the partial sums again, for inspection only: the real trace stays exactly forward()'s
  s.partial = out_proj_.partial_sums(scratch, s.context, label + ".o_proj");
  narrate(world, label + ": partial sums ctx_r Wo_r^T, before the all-reduce", s.partial);
  s.out = out_proj_.forward(world, s.context, label + ".o_proj");
  narrate(world, label + ": after the one all-reduce (+ bo): every rank holds the output", s.out);
  return s;
}

PerRank<Matrix> ParallelAttention::forward(World& world, const PerRank<Matrix>& x, const std::string& label) const {
  return forward_steps(world, x, label).out;
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
