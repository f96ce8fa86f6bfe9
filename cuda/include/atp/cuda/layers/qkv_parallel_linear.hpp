/// \file qkv_parallel_linear.hpp
/// \brief GPU QKVParallelLinear: this rank's stacked [Wq; Wk; Wv] shard of its
///        query and KV heads, one matmul giving [q_r | k_r | v_r] (chapter 5),
///        the twin of atp/sim/layers/qkv_parallel_linear.hpp.
///
/// One rank per process. The shard is sliced by the simulator's own
/// from_masters (same head rule, same errors), then uploaded, so both sides
/// hold the same bits. Every output element is one canonical fma chain over H
/// on this rank. Left out: the backward pass, fused rotary embeddings.
#pragma once

#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/sim/layers/qkv_parallel_linear.hpp"
#include "atp/tensor.hpp"

namespace atp::cuda {

/// Copies columns [src_col0, src_col0 + cols) of src into columns
/// [dst_col0, dst_col0 + cols) of dst (same row count), on `stream`; bits only.
/// \throws std::invalid_argument naming the shapes and ranges if they do not fit.
void copy_cols(const DeviceMatrix& src, int src_col0, int cols, DeviceMatrix& dst, int dst_col0, cudaStream_t stream);

/// Rank r's part of the Q/K/V projection, on the device.
class QKVParallelLinear {
 public:
  /// Slices rank `rank`'s stacked shard exactly as atp::sim::QKVParallelLinear::from_masters and uploads it.
  /// \throws std::invalid_argument as the simulator's from_masters, or naming rank and p.
  static QKVParallelLinear from_masters(const Matrix& Wq, const Matrix& Wk, const Matrix& Wv, const Matrix* bq,
                                        const Matrix* bk, const Matrix* bv, int num_heads, int num_kv_heads,
                                        int rank, int p, int head_dim = 0);
  /// Uploads this rank's stacked shard read elsewhere: W_r ((nH/p + 2 nKV_r) d, H)
  /// as atp::sim::qkv_shard_rows describes, b_r (1, that) or nullptr.
  /// \throws std::invalid_argument as atp::sim::QKVParallelLinear::from_shards for this rank.
  static QKVParallelLinear from_shard(const Matrix& W_r, const Matrix* b_r, int num_heads, int num_kv_heads,
                                      int head_dim, int rank, int p);

  /// This rank.
  int rank() const { return assignment_.rank; }
  /// Tensor-parallel size p.
  int p() const { return p_; }
  /// d.
  int head_dim() const { return head_dim_; }
  /// nH.
  int num_heads() const { return num_heads_; }
  /// nKV.
  int num_kv_heads() const { return num_kv_heads_; }
  /// This rank's heads.
  const atp::sim::HeadAssignment& assignment() const { return assignment_; }
  /// The stacked shard ((nH/p + 2 nKV_r) d, H) on the device.
  const DeviceMatrix& weight() const { return weight_; }
  /// The stacked bias (1, (nH/p + 2 nKV_r) d) on the device, or (0, 0) without biases.
  const DeviceMatrix& bias() const { return bias_; }

  /// x (T, H) -> [q_r | k_r | v_r] (T, (nH/p + 2 nKV_r) d). Returns once finished.
  /// \throws std::invalid_argument naming the shapes, or if comm is not rank() of p().
  DeviceMatrix forward(Communicator& comm, const DeviceMatrix& x) const;

  /// The three column blocks of forward()'s output.
  struct Parts {
    DeviceMatrix q;  ///< (T, nH/p * d)
    DeviceMatrix k;  ///< (T, nKV_r * d)
    DeviceMatrix v;  ///< (T, nKV_r * d)
  };
  /// Splits forward()'s output into q, k, v (device copies). Returns once finished.
  Parts split(Communicator& comm, const DeviceMatrix& qkv) const;

 private:
  QKVParallelLinear() = default;
  int p_ = 1;
  int num_heads_ = 1;
  int num_kv_heads_ = 1;
  int head_dim_ = 1;
  atp::sim::HeadAssignment assignment_;
  DeviceMatrix weight_;
  DeviceMatrix bias_;
  bool has_bias_ = false;
};

}  // namespace atp::cuda
