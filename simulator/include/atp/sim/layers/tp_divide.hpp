/// \file tp_divide.hpp
/// \brief tp_divide(): Megatron's divide() for layer sizes, with an error that lists the valid tp.
///
/// A tensor-parallel layer refuses a size that p does not divide, and the
/// message says which sizes of p would work ("out_features 10 is not
/// divisible by tp 4; valid tp: 1, 2, 5, 10"), so a reader can fix the
/// command line at once. Leaves out: padding (chapter 6 pads the vocabulary).
#pragma once

#include <cstdint>
#include <string>

namespace atp::sim {

/// "1, 2, 5, 10": every p >= 1 that divides n (n >= 1), ascending. Found in
/// O(sqrt(n)) steps, at most 2^20 of them: divisors above 2^20 are left out
/// (the list then ends "(tp up to 1048576 listed)"), and after 64 entries the
/// rest is counted ("... (57 more)"), so n = 10^10 costs milliseconds, not 27 s.
std::string valid_tp_list(std::int64_t n);

/// n / p, or std::invalid_argument "<what> <n> is not divisible by tp <p>;
/// valid tp: ..." (also for p < 1 or n < 0). `what` names the size, e.g. "out_features".
std::int64_t tp_divide(std::int64_t n, int p, const std::string& what);

}  // namespace atp::sim
