/// \file qkv_parallel_linear.cpp
/// \brief GPU QKVParallelLinear: upload this rank's stacked shard, one matmul, split by columns.
#include "atp/cuda/layers/qkv_parallel_linear.hpp"

#include "atp/cuda/check.hpp"
#include "atp/cuda/layers/column_parallel_linear.hpp"
#include "atp/cuda/ops.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {

void copy_cols(const DeviceMatrix& src, int src_col0, int cols, DeviceMatrix& dst, int dst_col0,
               cudaStream_t stream) {
  if (src.rows() != dst.rows() || cols < 0 || src_col0 < 0 || dst_col0 < 0 || src_col0 + cols > src.cols() ||
      dst_col0 + cols > dst.cols())
    throw std::invalid_argument("copy_cols: columns [" + std::to_string(src_col0) + ", " +
                                std::to_string(src_col0 + cols) + ") of " + src.shape() + " into columns [" +
                                std::to_string(dst_col0) + ", " + std::to_string(dst_col0 + cols) + ") of " +
                                dst.shape() + " do not fit (row counts must match, ranges must lie inside)");
  if (cols == 0 || src.rows() == 0) return;
  const std::size_t width = static_cast<std::size_t>(cols) * sizeof(float);
  ATP_CUDA_CHECK(cudaMemcpy2DAsync(dst.data() + dst_col0, static_cast<std::size_t>(dst.cols()) * sizeof(float),
                                   src.data() + src_col0, static_cast<std::size_t>(src.cols()) * sizeof(float), width,
                                   static_cast<std::size_t>(src.rows()), cudaMemcpyDeviceToDevice, stream));
}

QKVParallelLinear QKVParallelLinear::from_masters(const Matrix& Wq, const Matrix& Wk, const Matrix& Wv,
                                                  const Matrix* bq, const Matrix* bk, const Matrix* bv,
                                                  int num_heads, int num_kv_heads, int rank, int p, int head_dim) {
  // The simulator slices and validates, so both sides hold the same shard and refuse the same inputs.
  const auto layer = atp::sim::QKVParallelLinear::from_masters(Wq, Wk, Wv, bq, bk, bv, num_heads, num_kv_heads, p,
                                                               head_dim);
  if (rank < 0 || rank >= p)
    throw std::invalid_argument("QKVParallelLinear::from_masters: rank " + std::to_string(rank) +
                                " out of range; valid ranks are 0.." + std::to_string(p - 1) + " (p = " +
                                std::to_string(p) + ")");
  QKVParallelLinear out;
  out.p_ = p;
  out.num_heads_ = num_heads;
  out.num_kv_heads_ = num_kv_heads;
  out.head_dim_ = layer.head_dim();
  out.assignment_ = layer.assignment(rank);
  out.weight_ = to_device(layer.weight()[rank]);
  out.has_bias_ = layer.has_bias();
  if (out.has_bias_) out.bias_ = to_device(layer.bias()[rank]);
  return out;
}

QKVParallelLinear QKVParallelLinear::from_shard(const Matrix& W_r, const Matrix* b_r, int num_heads,
                                                int num_kv_heads, int head_dim, int rank, int p) {
  atp::sim::check_attention_heads(num_heads, num_kv_heads, p);
  if (rank < 0 || rank >= p || head_dim < 1)
    throw std::invalid_argument("QKVParallelLinear::from_shard: rank " + std::to_string(rank) + " of p " +
                                std::to_string(p) + ", head_dim " + std::to_string(head_dim) +
                                "; need 0 <= rank < p and head_dim >= 1");
  const atp::sim::QKVShardRows rows = atp::sim::qkv_shard_rows(num_heads, num_kv_heads, head_dim, p, rank);
  const Eigen::Index want = rows.q_rows + 2 * rows.kv_rows;
  if (W_r.rows() != want || W_r.cols() < 1 || (b_r != nullptr && (b_r->rows() != 1 || b_r->cols() != want)))
    throw std::invalid_argument("QKVParallelLinear::from_shard: rank " + std::to_string(rank) + "'s shard is " +
                                shape_string(W_r) + (b_r != nullptr ? " with bias " + shape_string(*b_r) : "") +
                                ", expected " + shape_string(want, W_r.cols()) + " (its query and KV heads' rows)");
  QKVParallelLinear out;
  out.p_ = p;
  out.num_heads_ = num_heads;
  out.num_kv_heads_ = num_kv_heads;
  out.head_dim_ = head_dim;
  out.assignment_ = atp::sim::head_assignment(num_heads, num_kv_heads, p, rank);
  out.weight_ = to_device(W_r);
  out.has_bias_ = b_r != nullptr;
  if (out.has_bias_) out.bias_ = to_device(*b_r);
  return out;
}

DeviceMatrix QKVParallelLinear::forward(Communicator& comm, const DeviceMatrix& x) const {
  check_layer_comm(comm, rank(), p_, "QKVParallelLinear::forward");
  if (x.cols() != weight_.cols())
    throw std::invalid_argument("QKVParallelLinear::forward: x is " + x.shape() + ", expected (T, " +
                                std::to_string(weight_.cols()) + ")");
  DeviceMatrix y = linear(x, weight_, has_bias_ ? &bias_ : nullptr, comm.stream());
  comm.wait("QKVParallelLinear::forward");
  return y;
}

QKVParallelLinear::Parts QKVParallelLinear::split(Communicator& comm, const DeviceMatrix& qkv) const {
  const int q = assignment_.q_heads.size() * head_dim_, kv = assignment_.kv_heads.size() * head_dim_;
  if (qkv.cols() != q + 2 * kv)
    throw std::invalid_argument("QKVParallelLinear::split: got " + qkv.shape() + ", expected (T, " +
                                std::to_string(q + 2 * kv) + ")");
  Parts parts{DeviceMatrix(qkv.rows(), q), DeviceMatrix(qkv.rows(), kv), DeviceMatrix(qkv.rows(), kv)};
  copy_cols(qkv, 0, q, parts.q, 0, comm.stream());
  copy_cols(qkv, q, kv, parts.k, 0, comm.stream());
  copy_cols(qkv, q + kv, kv, parts.v, 0, comm.stream());
  comm.wait("QKVParallelLinear::split");
  return parts;
}

}  // namespace atp::cuda
