/// \file reference_weights.hpp
/// \brief A checkpoint's weights as the float64 reference decoder takes them
///        (dense_decoder_reference.hpp), so chapter 7 can hold its
///        tensor-parallel decoder against a dense float64 one (chapter 7).
///
/// Every tensor is read whole and widened to double (exact), the config's
/// float epsilon and theta are widened too, so both decoders start from the
/// same numbers; only the arithmetic differs (fp32 on p ranks in the book's
/// orders, against float64 with std:: functions). Leaves out: the rotary
/// "halves" pair layout, which the reference does not implement (refused).
#pragma once

#include "atp/dense_decoder_reference.hpp"
#include "atp/sim/checkpoint/checkpoint.hpp"

namespace atp::sim {

/// The reference's weights for `checkpoint`.
/// \throws std::invalid_argument for a config the reference cannot run (halves-style rotary pairs).
DecoderWeightsRef reference_weights(const Checkpoint& checkpoint);

/// The largest |a - b| over two (1, V) logits rows (a fp32, b float64).
double max_abs_difference(const Matrix& a, const MatrixD& b);

/// The gap between the largest and the second largest entry of row 0.
double top2_gap(const MatrixD& logits);

}  // namespace atp::sim
