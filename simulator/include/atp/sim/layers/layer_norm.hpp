/// \file layer_norm.hpp
/// \brief LayerNorm of every row of a matrix (the ViT's pre-norm and final
///        norm), on the simulator: atp::layernorm_row per row.
///
/// A LayerNorm needs a whole row (its mean and variance), so in a
/// tensor-parallel block it runs where the row is whole: on the replicated
/// residual stream, every rank computing the same thing (Megatron-LM and vLLM
/// keep LayerNorm weights replicated). The order of its two row sums is
/// NUMERICS.md's 32-lane order; the GPU's atp::cuda::layernorm_rows runs the
/// same atp::layernorm_row per row, one warp per row. Nothing is recorded in
/// the trace (elementwise work, see compute.hpp). Leaves out: RMSNorm (the
/// decoder's), sequence-parallel norms.
#pragma once

#include "atp/sim/per_rank.hpp"
#include "atp/tensor.hpp"

namespace atp::sim {

/// LayerNorm of every row of x (R, n >= 1) with gamma, beta (1, n): row r is
/// atp::layernorm_row(x.row(r), gamma, beta, eps).
/// \throws std::invalid_argument naming the shapes unless gamma and beta are (1, n), or if n = 0.
Matrix layernorm_rows(const Matrix& x, const Matrix& gamma, const Matrix& beta, float eps);

/// layernorm_rows() on every rank's matrix (the replicated residual stream).
PerRank<Matrix> layernorm_rows(const PerRank<Matrix>& x, const Matrix& gamma, const Matrix& beta, float eps);

}  // namespace atp::sim
