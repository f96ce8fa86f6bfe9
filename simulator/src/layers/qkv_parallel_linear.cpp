/// \file qkv_parallel_linear.cpp
/// \brief QKVParallelLinear: head assignment (split or replicated KV heads),
///        the stacked per-rank weight, and its one-matmul forward.
#include "atp/sim/layers/qkv_parallel_linear.hpp"

#include "atp/sim/compute.hpp"

#include <stdexcept>
#include <utility>

namespace atp::sim {
namespace {

std::string str(long long v) { return std::to_string(v); }

/// "1, 2, 4" for every divisor of n.
std::string divisors(int n) {
  std::string out;
  for (int k = 1; k <= n; ++k)
    if (n % k == 0) out += (out.empty() ? "" : ", ") + std::to_string(k);
  return out;
}

void require_weight(const Matrix& W, Eigen::Index rows, Eigen::Index cols, const char* name, const char* heads_name,
                    int heads, int head_dim) {
  if (W.rows() != rows || W.cols() != cols)
    throw std::invalid_argument(std::string("QKVParallelLinear: ") + name + " is " + shape_string(W) + ", expected " +
                                shape_string(rows, cols) + " = (" + heads_name + " " + str(heads) + " * head_dim " +
                                str(head_dim) + ", hidden " + str(cols) + "); head_dim mismatch: " + name + "'s " +
                                str(W.rows()) + " rows " +
                                (W.rows() % heads == 0 ? "give head_dim " + str(W.rows() / heads)
                                                       : "are not a multiple of " + str(heads) + " heads"));
}

void require_bias(const Matrix& b, Eigen::Index cols, const char* name) {
  if (b.rows() != 1 || b.cols() != cols)
    throw std::invalid_argument(std::string("QKVParallelLinear: bias ") + name + " is " + shape_string(b) +
                                ", expected " + shape_string(1, cols));
}

}  // namespace

std::string valid_attention_tp_list(int num_heads, int num_kv_heads) {
  std::string out;
  for (int p = 1; p <= num_heads; ++p) {
    if (num_heads % p != 0) continue;
    if (num_kv_heads % p != 0 && p % num_kv_heads != 0) continue;
    out += (out.empty() ? "" : ", ") + std::to_string(p);
  }
  return out.empty() ? "none" : out;
}

void check_attention_heads(int num_heads, int num_kv_heads, int p) {
  if (num_heads < 1 || num_kv_heads < 1)
    throw std::invalid_argument("attention heads: num_heads " + str(num_heads) + " and num_kv_heads " +
                                str(num_kv_heads) + " must both be >= 1");
  if (num_heads % num_kv_heads != 0)
    throw std::invalid_argument("attention heads: num_heads " + str(num_heads) + " is not a multiple of num_kv_heads " +
                                str(num_kv_heads) + " (each KV head serves a whole group of query heads); valid "
                                "num_kv_heads for num_heads " + str(num_heads) + ": " + divisors(num_heads));
  if (p < 1)
    throw std::invalid_argument("attention heads: tp " + str(p) + " must be >= 1; valid tp for num_heads " +
                                str(num_heads) + " and num_kv_heads " + str(num_kv_heads) + ": " +
                                valid_attention_tp_list(num_heads, num_kv_heads));
  if (num_heads % p != 0)
    throw std::invalid_argument("attention heads: num_heads " + str(num_heads) + " is not divisible by tp " + str(p) +
                                " (every rank must hold whole query heads); valid tp for num_heads " +
                                str(num_heads) + " and num_kv_heads " + str(num_kv_heads) + ": " +
                                valid_attention_tp_list(num_heads, num_kv_heads));
  if (num_kv_heads % p != 0 && p % num_kv_heads != 0)
    throw std::invalid_argument("attention heads: tp " + str(p) + " neither divides num_kv_heads " +
                                str(num_kv_heads) + " (to split the KV heads) nor is a multiple of it (to replicate "
                                "each KV head on tp / num_kv_heads ranks); valid tp for num_heads " + str(num_heads) +
                                " and num_kv_heads " + str(num_kv_heads) + ": " +
                                valid_attention_tp_list(num_heads, num_kv_heads));
}

HeadAssignment head_assignment(int num_heads, int num_kv_heads, int p, int rank) {
  check_attention_heads(num_heads, num_kv_heads, p);
  if (rank < 0 || rank >= p)
    throw std::invalid_argument("head_assignment: rank " + str(rank) + " out of range; valid ranks are 0.." +
                                str(p - 1));
  HeadAssignment a;
  a.rank = rank;
  const int q = num_heads / p;
  a.q_heads = {rank * q, (rank + 1) * q};
  if (num_kv_heads % p == 0) {
    const int kv = num_kv_heads / p;
    a.kv_heads = {rank * kv, (rank + 1) * kv};
    a.kv_replicas = 1;
  } else {  // p is a multiple of nKV: vLLM replicates each KV head on p / nKV consecutive ranks
    a.kv_replicas = p / num_kv_heads;
    const int g = rank / a.kv_replicas;
    a.kv_heads = {g, g + 1};
  }
  return a;
}

int kv_head_of(int q_head, int num_heads, int num_kv_heads) {
  check_attention_heads(num_heads, num_kv_heads, 1);
  if (q_head < 0 || q_head >= num_heads)
    throw std::invalid_argument("kv_head_of: query head " + str(q_head) + " out of range; valid heads are 0.." +
                                str(num_heads - 1));
  return q_head / (num_heads / num_kv_heads);
}

QKVShardRows qkv_shard_rows(int num_heads, int num_kv_heads, int head_dim, int p, int rank) {
  const HeadAssignment a = head_assignment(num_heads, num_kv_heads, p, rank);
  const Eigen::Index d = head_dim;
  return {a.q_heads.begin * d, a.q_heads.size() * d, a.kv_heads.begin * d, a.kv_heads.size() * d};
}

QKVParallelLinear QKVParallelLinear::from_masters(const Matrix& Wq, const Matrix& Wk, const Matrix& Wv,
                                                  const Matrix* bq, const Matrix* bk, const Matrix* bv,
                                                  int num_heads, int num_kv_heads, int p, int head_dim) {
  check_attention_heads(num_heads, num_kv_heads, p);
  const Eigen::Index H = Wq.cols();
  if (head_dim < 0)
    throw std::invalid_argument("QKVParallelLinear: head_dim " + str(head_dim) +
                                " is negative; pass 0 (= hidden / num_heads) or a positive head_dim");
  if (head_dim == 0) {
    if (H % num_heads != 0)
      throw std::invalid_argument("QKVParallelLinear: hidden size " + str(H) + " is not divisible by num_heads " +
                                  str(num_heads) + ", so head_dim = hidden / num_heads is undefined; pass head_dim "
                                  "explicitly or use a num_heads that divides " + str(H) + " (" +
                                  divisors(static_cast<int>(H)) + ")");
    head_dim = static_cast<int>(H / num_heads);
  }
  require_weight(Wq, static_cast<Eigen::Index>(num_heads) * head_dim, H, "Wq", "num_heads", num_heads, head_dim);
  require_weight(Wk, static_cast<Eigen::Index>(num_kv_heads) * head_dim, H, "Wk", "num_kv_heads", num_kv_heads,
                 head_dim);
  require_weight(Wv, static_cast<Eigen::Index>(num_kv_heads) * head_dim, H, "Wv", "num_kv_heads", num_kv_heads,
                 head_dim);
  const int nb = (bq != nullptr) + (bk != nullptr) + (bv != nullptr);
  if (nb != 0 && nb != 3)
    throw std::invalid_argument("QKVParallelLinear: give all three biases bq, bk, bv or none; got " + str(nb));
  if (nb == 3) {
    require_bias(*bq, Wq.rows(), "bq");
    require_bias(*bk, Wk.rows(), "bk");
    require_bias(*bv, Wv.rows(), "bv");
  }
  PerRank<Matrix> weight(p), bias(p);
  for (int r = 0; r < p; ++r) {
    const QKVShardRows rows = qkv_shard_rows(num_heads, num_kv_heads, head_dim, p, r);
    Matrix W(rows.q_rows + 2 * rows.kv_rows, H);
    W.topRows(rows.q_rows) = Wq.middleRows(rows.q_begin, rows.q_rows);
    W.middleRows(rows.q_rows, rows.kv_rows) = Wk.middleRows(rows.kv_begin, rows.kv_rows);
    W.bottomRows(rows.kv_rows) = Wv.middleRows(rows.kv_begin, rows.kv_rows);
    weight[r] = std::move(W);
    if (nb == 3) {
      Matrix b(1, rows.q_rows + 2 * rows.kv_rows);
      b.leftCols(rows.q_rows) = bq->middleCols(rows.q_begin, rows.q_rows);
      b.middleCols(rows.q_rows, rows.kv_rows) = bk->middleCols(rows.kv_begin, rows.kv_rows);
      b.rightCols(rows.kv_rows) = bv->middleCols(rows.kv_begin, rows.kv_rows);
      bias[r] = std::move(b);
    }
  }
  return from_shards(std::move(weight), std::move(bias), num_heads, num_kv_heads, head_dim);
}

QKVParallelLinear QKVParallelLinear::from_shards(PerRank<Matrix> weight, PerRank<Matrix> bias, int num_heads,
                                                 int num_kv_heads, int head_dim) {
  const int p = weight.size();
  check_attention_heads(num_heads, num_kv_heads, p);
  if (head_dim < 1)
    throw std::invalid_argument("QKVParallelLinear::from_shards: head_dim " + str(head_dim) + " must be >= 1");
  if (bias.size() != p)
    throw std::invalid_argument("QKVParallelLinear::from_shards: " + str(p) + " weight shards but " +
                                str(bias.size()) + " bias shards");
  const bool with_bias = bias[0].size() > 0;
  for (int r = 0; r < p; ++r) {
    const QKVShardRows rows = qkv_shard_rows(num_heads, num_kv_heads, head_dim, p, r);
    const Eigen::Index want = rows.q_rows + 2 * rows.kv_rows;
    if (weight[r].rows() != want || weight[r].cols() != weight[0].cols() || weight[0].cols() < 1)
      throw std::invalid_argument("QKVParallelLinear::from_shards: the shard on rank " + str(r) + " is " +
                                  shape_string(weight[r]) + ", expected " + shape_string(want, weight[0].cols()) +
                                  " = ((" + str(rows.q_rows / head_dim) + " query + 2 * " +
                                  str(rows.kv_rows / head_dim) + " KV heads) * head_dim " + str(head_dim) +
                                  ", hidden)");
    if (with_bias ? (bias[r].rows() != 1 || bias[r].cols() != want) : bias[r].size() != 0)
      throw std::invalid_argument("QKVParallelLinear::from_shards: the bias on rank " + str(r) + " is " +
                                  shape_string(bias[r]) + "; it must be " + shape_string(1, want) +
                                  " on every rank, or (0, 0) on every rank");
  }
  return QKVParallelLinear(std::move(weight), std::move(bias), num_heads, num_kv_heads, head_dim);
}

PerRank<Matrix> QKVParallelLinear::forward(World& world, const PerRank<Matrix>& x, const std::string& label) const {
  const int n = p();
  if (world.size() != n || x.size() != n)
    throw std::invalid_argument("QKVParallelLinear '" + label + "': built for p = " + str(n) + " but the world has " +
                                str(world.size()) + " ranks and x has " + str(x.size()));
  for (int r = 0; r < n; ++r)
    if (x[r].cols() != hidden_size())
      throw std::invalid_argument("QKVParallelLinear '" + label + "': x on rank " + str(r) + " is " +
                                  shape_string(x[r]) + ", expected (T, " + str(hidden_size()) + ")");
  return make_per_rank(n, [&](int r) {
    return linear(world, r, x[r], weight_[r], has_bias() ? &bias_[r] : nullptr, label);
  });
}

QKVParallelLinear::Parts QKVParallelLinear::split(const PerRank<Matrix>& qkv) const {
  const int n = p();
  if (qkv.size() != n)
    throw std::invalid_argument("QKVParallelLinear::split: got " + str(qkv.size()) + " ranks, expected " + str(n));
  Parts parts{PerRank<Matrix>(n), PerRank<Matrix>(n), PerRank<Matrix>(n)};
  for (int r = 0; r < n; ++r) {
    const Eigen::Index qr = static_cast<Eigen::Index>(num_heads_per_rank()) * head_dim_;
    const Eigen::Index kvr = static_cast<Eigen::Index>(num_kv_heads_per_rank()) * head_dim_;
    if (qkv[r].cols() != qr + 2 * kvr)
      throw std::invalid_argument("QKVParallelLinear::split: rank " + str(r) + " holds " + shape_string(qkv[r]) +
                                  ", expected (T, " + str(qr + 2 * kvr) + ") = (T, (" + str(num_heads_per_rank()) +
                                  " + 2 * " + str(num_kv_heads_per_rank()) + ") * " + str(head_dim_) + ")");
    parts.q[r] = qkv[r].leftCols(qr);
    parts.k[r] = qkv[r].middleCols(qr, kvr);
    parts.v[r] = qkv[r].rightCols(kvr);
  }
  return parts;
}

void QKVParallelLinear::account_memory(World& world, const std::string& label) const {
  for (int r = 0; r < p(); ++r) {
    world.memory().hold(r, MemoryKind::Weight, label + ".weight", weight_[r]);
    if (has_bias()) world.memory().hold(r, MemoryKind::Weight, label + ".bias", bias_[r]);
  }
}

}  // namespace atp::sim
