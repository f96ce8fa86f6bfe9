/// \file vision_transformer.cpp
/// \brief The chapter 8 ViT on one GPU rank: replicated embedding, blocks of
///        the GPU chapter 4 and 5 layers, packed images.
#include "atp/cuda/vision/vision_transformer.hpp"

#include "atp/cuda/kernels.hpp"
#include "atp/cuda/layers/column_parallel_linear.hpp"
#include "atp/cuda/layers/segmented_attention.hpp"
#include "atp/cuda/ops.hpp"
#include "atp/cuda/row_blocks.hpp"
#include "atp/sim/vision/vision_transformer.hpp"

#include <stdexcept>
#include <string>
#include <utility>

namespace atp::cuda {
namespace {

/// x = x + y in place, one IEEE add per element (the residual and position adds).
void add_into(DeviceMatrix& x, const DeviceMatrix& y, cudaStream_t stream) {
  if (x.rows() != y.rows() || x.cols() != y.cols())
    throw std::invalid_argument("ParallelVisionTransformer: adding " + y.shape() + " to " + x.shape());
  launch_add(x.data(), y.data(), x.data(), x.size(), stream);
}

}  // namespace

ParallelVisionTransformer ParallelVisionTransformer::from_master(const VitConfig& config, const VitWeights& weights,
                                                                 int rank, int p, AllReduceForm form) {
  // The simulator validates every shape and size with its messages.
  (void)atp::sim::ParallelVisionTransformer::from_master(config, weights, p, sim_order(form));
  if (rank < 0 || rank >= p)
    throw std::invalid_argument("ParallelVisionTransformer::from_master: rank " + std::to_string(rank) +
                                " out of range; valid ranks are 0.." + std::to_string(p - 1));
  ParallelVisionTransformer v;
  v.config_ = config;
  v.rank_ = rank;
  v.p_ = p;
  v.cls_host_ = weights.cls;
  v.pos_host_ = weights.pos;
  v.W_patch_ = to_device(weights.W_patch);
  if (config.patch_bias) v.b_patch_ = to_device(weights.b_patch);
  v.post_gamma_ = to_device(weights.post_gamma);
  v.post_beta_ = to_device(weights.post_beta);
  for (const VitBlockWeights& b : weights.blocks) {
    ParallelAttentionOptions ao;
    ao.form = form;
    ParallelMLPOptions mo;
    mo.gelu = config.gelu;
    mo.form = form;
    v.blocks_.push_back({to_device(b.ln1_gamma), to_device(b.ln1_beta),
                         ParallelAttention::from_masters(b.attn, config.heads, config.heads, rank, p, ao),
                         to_device(b.ln2_gamma), to_device(b.ln2_beta),
                         ParallelMLP::from_master(b.W_fc1, b.b_fc1, b.W_fc2, b.b_fc2, rank, p, mo)});
  }
  return v;
}

DeviceMatrix ParallelVisionTransformer::embed(Communicator& comm, const std::vector<Image>& images) const {
  const cudaStream_t stream = comm.stream();
  const std::vector<Eigen::Index> rows = atp::sim::vit_rows_per_image(config_, images);
  const int cls = config_.class_token ? 1 : 0;
  Eigen::Index total_rows = 0, total_patches = 0;
  for (Eigen::Index r : rows) {
    total_rows += r;
    total_patches += r - cls;
  }
  // Host side, bits only: the patch rows and, per output row, its position row.
  Matrix patches(total_patches, config_.patch_dim()), positions(total_rows, config_.hidden);
  Eigen::Index prow = 0, xrow = 0;
  for (const Image& img : images) {
    const Matrix p = patchify(img, config_.patch);
    patches.middleRows(prow, p.rows()) = p;
    prow += p.rows();
    if (cls == 1) positions.row(xrow++) = pos_host_.row(0);
    const PatchGrid g = patch_grid(img, config_.patch);
    for (int i = 0; i < g.rows; ++i)
      for (int j = 0; j < g.cols; ++j) positions.row(xrow++) = pos_host_.row(config_.position_row(i, j));
  }
  // Device inputs stay alive (named) until the wait below: the kernels that read them run asynchronously.
  const DeviceMatrix patches_d = to_device(patches, stream), positions_d = to_device(positions, stream);
  const DeviceMatrix y = linear(patches_d, W_patch_, config_.patch_bias ? &b_patch_ : nullptr, stream);  // replicated
  DeviceMatrix x(total_rows, config_.hidden);
  Eigen::Index at = 0, patch = 0;
  for (std::size_t i = 0; i < images.size(); ++i) {
    if (cls == 1) upload_row(cls_host_, 0, x, at++, stream);
    const Eigen::Index n = rows[i] - cls;
    copy_rows(y, patch, n, x, at, stream);
    patch += n;
    at += n;
  }
  add_into(x, positions_d, stream);  // [cls ; y] + positions, as the simulator's row adds
  comm.wait("ParallelVisionTransformer::embed");
  return x;
}

ParallelVisionTransformer::Steps ParallelVisionTransformer::forward_steps(Communicator& comm,
                                                                          const std::vector<Image>& images) const {
  check_layer_comm(comm, rank_, p_, "ParallelVisionTransformer::forward_steps");
  const cudaStream_t stream = comm.stream();
  const std::vector<Eigen::Index> rows = atp::sim::vit_rows_per_image(config_, images);
  Steps s;
  if (images.empty()) {
    s.embedded = DeviceMatrix(0, config_.hidden);
    s.out = DeviceMatrix(0, config_.hidden);
    return s;
  }
  const std::vector<std::int64_t> segments(rows.begin(), rows.end());
  s.embedded = embed(comm, images);
  DeviceMatrix x = slice_rows(s.embedded, 0, s.embedded.rows(), stream);  // the residual stream, a copy
  for (const Block& b : blocks_) {
    const DeviceMatrix a =
        attention_forward_segments(comm, b.attn, layernorm_rows(x, b.ln1_gamma, b.ln1_beta, config_.eps, stream),
                                   segments);
    add_into(x, a, stream);
    const DeviceMatrix m = b.mlp.forward(comm, layernorm_rows(x, b.ln2_gamma, b.ln2_beta, config_.eps, stream));
    add_into(x, m, stream);
    s.blocks.push_back(slice_rows(x, 0, x.rows(), stream));
  }
  s.out = layernorm_rows(x, post_gamma_, post_beta_, config_.eps, stream);
  comm.wait("ParallelVisionTransformer::forward_steps");
  return s;
}

DeviceMatrix ParallelVisionTransformer::forward(Communicator& comm, const std::vector<Image>& images) const {
  return std::move(forward_steps(comm, images).out);
}

}  // namespace atp::cuda
