/// \file projector.cpp
/// \brief LLaVA's projector and Qwen2-VL's patch merger from the chapter 2-3 layers.
#include "atp/sim/vision/projector.hpp"

#include "atp/sim/layers/layer_norm.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/narrate.hpp"

#include <stdexcept>

namespace atp::sim {
namespace {

void require(const Matrix& m, Eigen::Index rows, Eigen::Index cols, const std::string& what) {
  if (m.rows() != rows || m.cols() != cols)
    throw std::invalid_argument(what + " is " + shape_string(m) + ", expected " + shape_string(rows, cols));
}

/// Column, GELU (erf) on each rank's columns, row + one all-reduce.
PerRank<Matrix> two_layers(World& world, const ColumnParallelLinear& l1, const RowParallelLinear& l2,
                           const PerRank<Matrix>& x, const std::string& n1, const std::string& n2) {
  const PerRank<Matrix> h = l1.forward(world, x, n1);
  const PerRank<Matrix> a = make_per_rank(h.size(), [&](int r) -> Matrix { return gelu(GeluForm::Erf, h[r]); });
  narrate(world, n1 + ": gelu(x W1_r^T + b1_r), each rank's columns of the middle layer (no communication)", a);
  const PerRank<Matrix> y = l2.forward(world, a, n2);
  narrate(world, n2 + ": after the one all-reduce (+ b2): the projected features on every rank", y);
  return y;
}

}  // namespace

std::string projector_obstacle(Eigen::Index mid, int p) {
  if (p >= 1 && mid % p == 0) return "";
  return "the projector's middle width " + std::to_string(mid) + " is not divisible by tp " + std::to_string(p);
}

Matrix select_patch_features(const Matrix& x, const std::vector<Eigen::Index>& rows_per_image, bool class_token) {
  Eigen::Index total = 0;
  for (Eigen::Index r : rows_per_image) total += r;
  if (total != x.rows())
    throw std::invalid_argument("select_patch_features: the images' rows add up to " + std::to_string(total) +
                                " but the features have " + std::to_string(x.rows()));
  if (!class_token) return x;
  Matrix out(total - static_cast<Eigen::Index>(rows_per_image.size()), x.cols());
  Eigen::Index in = 0, at = 0;
  for (Eigen::Index r : rows_per_image) {
    out.middleRows(at, r - 1) = x.middleRows(in + 1, r - 1);  // row 0 of each image is its class token
    in += r;
    at += r - 1;
  }
  return out;
}

ParallelLlavaProjector ParallelLlavaProjector::from_master(const ProjectorWeights& w, int p, ReduceOrder order) {
  const Eigen::Index D = w.W1.rows();
  require(w.b1, 1, D, "LLaVA projector b1");
  require(w.W2, D, D, "LLaVA projector W2 (linear_2 maps the decoder width to itself)");
  require(w.b2, 1, D, "LLaVA projector b2");
  const std::string why = projector_obstacle(D, p);
  if (!why.empty()) throw std::invalid_argument("ParallelLlavaProjector: " + why);
  RowParallelOptions ro;
  ro.order = order;
  return ParallelLlavaProjector(ColumnParallelLinear::from_master(w.W1, &w.b1, p),
                                RowParallelLinear::from_master(w.W2, &w.b2, p, ro));
}

PerRank<Matrix> ParallelLlavaProjector::forward(World& world, const PerRank<Matrix>& x, const std::string& label) const {
  return two_layers(world, linear_1_, linear_2_, x, label + ".linear_1", label + ".linear_2");
}

Matrix merge_image_rows(const Matrix& x, const std::vector<PatchGrid>& grids, int merge) {
  Eigen::Index in = 0, out_rows = 0;
  for (const PatchGrid& g : grids) out_rows += g.count() / (static_cast<Eigen::Index>(merge) * merge);
  Matrix out(out_rows, x.cols() * merge * merge);
  Eigen::Index at = 0;
  for (const PatchGrid& g : grids) {
    if (in + g.count() > x.rows())
      throw std::invalid_argument("merge_image_rows: the grids need more than the " + std::to_string(x.rows()) +
                                  " rows given");
    const Matrix m = spatial_merge(x.middleRows(in, g.count()), g, merge);
    out.middleRows(at, m.rows()) = m;
    in += g.count();
    at += m.rows();
  }
  if (in != x.rows())
    throw std::invalid_argument("merge_image_rows: the grids cover " + std::to_string(in) + " rows but x has " +
                                std::to_string(x.rows()));
  return out;
}

ParallelPatchMerger ParallelPatchMerger::from_master(const ProjectorWeights& w, int merge, float eps, int p,
                                                     ReduceOrder order) {
  if (merge < 1) throw std::invalid_argument("ParallelPatchMerger: merge size " + std::to_string(merge) + " must be >= 1");
  const Eigen::Index Hv = w.norm_gamma.cols(), wide = Hv * merge * merge, D = w.W2.rows();
  require(w.norm_gamma, 1, Hv, "patch merger norm_gamma");
  require(w.norm_beta, 1, Hv, "patch merger norm_beta");
  require(w.W1, wide, wide, "patch merger W1 (merge^2 * vision width, the same)");
  require(w.b1, 1, wide, "patch merger b1");
  require(w.W2, D, wide, "patch merger W2");
  require(w.b2, 1, D, "patch merger b2");
  const std::string why = projector_obstacle(wide, p);
  if (!why.empty()) throw std::invalid_argument("ParallelPatchMerger: " + why);
  RowParallelOptions ro;
  ro.order = order;
  return ParallelPatchMerger(w.norm_gamma, w.norm_beta, ColumnParallelLinear::from_master(w.W1, &w.b1, p),
                             RowParallelLinear::from_master(w.W2, &w.b2, p, ro), merge, eps);
}

PerRank<Matrix> ParallelPatchMerger::forward(World& world, const PerRank<Matrix>& x, const std::vector<PatchGrid>& grids,
                                             const std::string& label) const {
  const PerRank<Matrix> merged = make_per_rank(x.size(), [&](int r) -> Matrix {
    return merge_image_rows(layernorm_rows(x[r], gamma_, beta_, eps_), grids, merge_);
  });
  narrate(world, label + ": LayerNorm, then each " + std::to_string(merge_) + "x" + std::to_string(merge_) +
                     " block of patches side by side (replicated, no communication)",
          merged);
  return two_layers(world, mlp_0_, mlp_2_, merged, label + ".mlp.0", label + ".mlp.2");
}

}  // namespace atp::sim
