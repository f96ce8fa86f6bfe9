/// \file projector_weights.cpp
/// \brief Seeded projector masters, the spatial merge, the float64 projectors.
#include "atp/projector_weights.hpp"

#include "atp/dense_reference.hpp"
#include "atp/rng.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace atp {
namespace {

float inv_sqrt(Eigen::Index n) { return 1.0f / std::sqrt(static_cast<float>(n)); }

ProjectorWeights two_layers(Eigen::Index in, Eigen::Index mid, Eigen::Index out, std::uint64_t seed,
                            std::uint64_t stream) {
  ProjectorWeights w;
  w.W1 = random_matrix(mid, in, seed, stream + 0, 3.0f * inv_sqrt(in));
  w.b1 = random_matrix(1, mid, seed, stream + 1, 1.0f / 3.0f);
  w.W2 = random_matrix(out, mid, seed, stream + 2, inv_sqrt(mid));
  w.b2 = random_matrix(1, out, seed, stream + 3, 1.0f / 3.0f);
  return w;
}

template <class M>
M merge_rows(const M& x, const PatchGrid& g, int m) {
  if (m < 1 || g.rows % m != 0 || g.cols % m != 0 || x.rows() != g.count())
    throw std::invalid_argument("spatial_merge: a " + std::to_string(g.rows) + "x" + std::to_string(g.cols) +
                                " grid (" + std::to_string(x.rows()) + " rows given) cannot be cut into " +
                                std::to_string(m) + "x" + std::to_string(m) + " blocks; both grid sides must be "
                                "multiples of the merge size and the rows must be the grid's patches");
  const Eigen::Index H = x.cols(), bw = g.cols / m;
  M out(g.count() / (m * m), H * m * m);
  for (int bi = 0; bi < g.rows / m; ++bi)
    for (int bj = 0; bj < bw; ++bj)
      for (int a = 0; a < m; ++a)
        for (int b = 0; b < m; ++b)
          out.row(bi * bw + bj).segment((a * m + b) * H, H) =
              x.row(static_cast<Eigen::Index>(bi * m + a) * g.cols + bj * m + b);
  return out;
}

}  // namespace

ProjectorWeights random_llava_projector(Eigen::Index vision_hidden, Eigen::Index text_hidden, std::uint64_t seed) {
  return two_layers(vision_hidden, text_hidden, text_hidden, seed, 8500);
}

ProjectorWeights random_patch_merger(Eigen::Index vision_hidden, Eigen::Index text_hidden, int merge,
                                     std::uint64_t seed) {
  const Eigen::Index wide = vision_hidden * merge * merge;
  ProjectorWeights w = two_layers(wide, wide, text_hidden, seed, 8520);
  w.norm_gamma = random_matrix(1, vision_hidden, seed, 8530, 0.1f);
  for (Eigen::Index j = 0; j < vision_hidden; ++j) w.norm_gamma(0, j) += 1.0f;
  w.norm_beta = random_matrix(1, vision_hidden, seed, 8531, 0.1f);
  return w;
}

Matrix spatial_merge(const Matrix& x, const PatchGrid& grid, int merge) { return merge_rows(x, grid, merge); }

MatrixD llava_projector_ref(const MatrixD& x, const ProjectorWeights& w) {
  const MatrixD b1 = to_double(w.b1), b2 = to_double(w.b2);
  return linear_ref(gelu_erf_ref(linear_ref(x, to_double(w.W1), &b1)), to_double(w.W2), &b2);
}

MatrixD patch_merger_ref(const MatrixD& x, const PatchGrid& grid, int merge, const ProjectorWeights& w, double eps) {
  const MatrixD normed = layernorm_rows_ref(x, to_double(w.norm_gamma), to_double(w.norm_beta), eps);
  return llava_projector_ref(merge_rows(normed, grid, merge), w);
}

}  // namespace atp
