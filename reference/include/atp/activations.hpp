/// \file activations.hpp
/// \brief The MLP epilogues, one definition for CPU and GPU: GELU in either
/// form, selected at run time, and the SwiGLU gate silu(gate) * up.
///
/// A tensor-parallel MLP applies its nonlinearity to each rank's slice of the
/// intermediate, on the CPU simulator and in a CUDA kernel alike. Both call
/// these functions with the same arguments, so the bits agree (NUMERICS.md
/// section 2, "elementwise epilogues ... each one shared function"). They are
/// built only on numerics.hpp (atp::gelu_tanh, atp::gelu_erf, atp::silu) and
/// one correctly rounded multiply. Leaves out: Eigen (this header is included
/// by .cu files), other activations (ReLU, GeGLU) no chapter uses yet.
#pragma once

#include "atp/numerics.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

namespace atp {

/// Which GELU: the tanh approximation (GPT-2, CLIP, many ViTs) or the exact erf form (PyTorch's default).
enum class GeluForm : int {
  Tanh,  ///< 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), atp::gelu_tanh
  Erf    ///< 0.5 x (1 + erf(x / sqrt 2)), atp::gelu_erf
};

/// GELU of x in the chosen form: the elementwise epilogue of the GELU MLP.
ATP_HD inline float gelu(GeluForm form, float x) {
  return form == GeluForm::Tanh ? atp::gelu_tanh(x) : atp::gelu_erf(x);
}

/// SwiGLU's gating (Llama's MLP): silu(gate) * up, one rounding for silu and one for the
/// product; a NaN result is atp::quiet_nan() (docs/numerics.md, "NaN").
ATP_HD inline float swiglu(float gate, float up) { return atp::canonical_nan(atp::silu(gate) * up); }

/// "tanh" or "erf", the spelling of the command-line option --gelu.
inline const char* gelu_form_name(GeluForm form) { return form == GeluForm::Tanh ? "tanh" : "erf"; }

/// Parses "tanh" or "erf"; throws std::invalid_argument naming the text and the valid spellings.
inline GeluForm parse_gelu_form(std::string_view text) {
  if (text == "tanh") return GeluForm::Tanh;
  if (text == "erf") return GeluForm::Erf;
  throw std::invalid_argument("GELU form '" + std::string(text) + "' is unknown; valid: tanh, erf");
}

}  // namespace atp
