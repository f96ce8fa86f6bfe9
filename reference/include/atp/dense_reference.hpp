/// \file dense_reference.hpp
/// \brief The dense single-device float64 reference: what every layer should
/// compute, written the obvious way with Eigen and std:: double functions.
///
/// Tolerance checks compare fp32 results (simulator or GPU) against these
/// float64 values; bitwise checks never use them. Nothing here follows the
/// canonical reduction orders and nothing needs to: float64 rounding is ~2^29
/// times smaller than fp32's, so the order of a float64 sum does not show up
/// at fp32 tolerances. Inputs are converted with to_double() first.
///
/// What it leaves out: everything not needed yet; later chapters add their
/// layers (attention, MLP blocks) here.
#pragma once

#include "atp/tensor.hpp"

namespace atp {

/// Exact widening of an fp32 matrix to fp64.
MatrixD to_double(const Matrix& m);

/// y = x W^T (+ bias): x (T, in), W (out, in), bias (1, out) or nullptr; y (T, out).
/// Throws std::invalid_argument naming the shapes if they do not fit.
MatrixD linear_ref(const MatrixD& x, const MatrixD& W, const MatrixD* bias);

/// 1 / (1 + e^(-x)), elementwise.
MatrixD sigmoid_ref(const MatrixD& x);

/// x / (1 + e^(-x)) (SiLU / swish), elementwise.
MatrixD silu_ref(const MatrixD& x);

/// 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), elementwise (GELU,
/// tanh form), evaluated as the identical x / (1 + e^(-2u)) to avoid cancellation.
MatrixD gelu_tanh_ref(const MatrixD& x);

/// 0.5 x erfc(-x / sqrt 2) = 0.5 x (1 + erf(x / sqrt 2)), elementwise (GELU, exact form).
MatrixD gelu_erf_ref(const MatrixD& x);

/// Softmax of every row: e^(x - max) / sum e^(x - max); a fully masked row
/// (all -inf) is zeros, as atp::softmax_row (docs/numerics.md, "NaN").
MatrixD softmax_rows_ref(const MatrixD& x);

/// LayerNorm of every row of x (T, H) with biased variance:
/// (x - mean) / sqrt(var + eps) * gamma + beta; gamma, beta are (1, H).
/// Throws std::invalid_argument if gamma or beta is not (1, H) or eps < 0.
MatrixD layernorm_rows_ref(const MatrixD& x, const MatrixD& gamma, const MatrixD& beta, double eps);

/// RMSNorm of every row of x (T, H): x / sqrt(mean(x^2) + eps) * gamma; gamma is (1, H).
/// Throws std::invalid_argument if gamma is not (1, H) or eps < 0.
MatrixD rmsnorm_rows_ref(const MatrixD& x, const MatrixD& gamma, double eps);

/// max |got - ref| over all elements; +inf if exactly one of a pair is NaN
/// (or they are different infinities), so a NaN never passes a tolerance.
/// Throws std::invalid_argument if the shapes differ.
double max_abs_error(const Matrix& got, const MatrixD& ref);

/// max |got - ref| / max(|ref|, floor) over all elements (floor keeps values
/// near zero from dominating; the default is the smallest normal float).
/// NaN handling and shape check as max_abs_error().
double max_rel_error(const Matrix& got, const MatrixD& ref, double floor = 0x1p-126);

}  // namespace atp
