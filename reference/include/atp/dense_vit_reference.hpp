/// \file dense_vit_reference.hpp
/// \brief The dense float64 reference of the chapter 8 vision transformer,
///        one image at a time.
///
/// Written the obvious way in double (Eigen products, std::exp, no canonical
/// order), from the fp32 masters widened exactly. Tests compare the fp32
/// encoders (simulator and GPU, every strategy) with it within a tolerance,
/// never bitwise; the chapter 8 notebook recomputes the same thing in NumPy.
/// Leaves out: batching (an image attends only to itself, so a batch is its
/// images one after the other), everything vit_weights.hpp leaves out.
#pragma once

#include "atp/tensor.hpp"
#include "atp/vit_image.hpp"
#include "atp/vit_weights.hpp"

namespace atp {

/// Every stage of the float64 encoder for one image.
struct DenseVitRef {
  MatrixD embedded;  ///< (rows, H): [cls ; patches W_patch^T + b_patch] + positions
  MatrixD blocks;    ///< (rows, H): the residual stream after the last block, before the final norm
  MatrixD out;       ///< (rows, H): after the final LayerNorm
};

/// The encoder of `image` in float64; rows = n patches (+ 1 with a class token).
/// \throws std::invalid_argument if the image does not fit the config (patch
///         size, channels, grid larger than max_grid), naming the sizes.
DenseVitRef vit_ref(const VitConfig& config, const VitWeights& weights, const Image& image);

}  // namespace atp
