/// \file tp_divide.cpp
/// \brief Even layer splits with errors that name the valid tensor-parallel sizes.
#include "atp/sim/layers/tp_divide.hpp"

#include <stdexcept>

namespace atp::sim {

std::string valid_tp_list(std::int64_t n) {
  std::string out;
  for (std::int64_t d = 1; d <= n; ++d) {
    if (n % d != 0) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(d);
  }
  return out.empty() ? "none (the size is " + std::to_string(n) + ")" : out;
}

std::int64_t tp_divide(std::int64_t n, int p, const std::string& what) {
  if (p < 1)
    throw std::invalid_argument("tp = " + std::to_string(p) + " is not a valid tensor-parallel size for " + what + " " +
                                std::to_string(n) + "; tp must be >= 1 (valid tp: " + valid_tp_list(n) + ")");
  if (n < 0) throw std::invalid_argument(what + " " + std::to_string(n) + " is negative");
  if (n % p != 0)
    throw std::invalid_argument(what + " " + std::to_string(n) + " is not divisible by tp " + std::to_string(p) +
                                "; valid tp: " + valid_tp_list(n));
  return n / p;
}

}  // namespace atp::sim
