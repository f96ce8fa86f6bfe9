/// \file tp_divide.cpp
/// \brief Even layer splits with errors that name the valid tensor-parallel sizes.
#include "atp/sim/layers/tp_divide.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace atp::sim {

namespace {
// Trial division stops here: 2^20 steps take milliseconds, while n = 10^10
// divided by every d <= n took 27 s. No tensor-parallel size is near this.
constexpr std::int64_t kMaxListedDivisor = std::int64_t{1} << 20;
// Highly composite sizes have thousands of divisors; a message lists the first ones.
constexpr std::size_t kMaxListed = 64;
}  // namespace

std::string valid_tp_list(std::int64_t n) {
  if (n < 1) return "none (the size is " + std::to_string(n) + ")";
  // Divisors come in pairs (d, n/d) with d <= sqrt(n): O(sqrt(n)) work, capped.
  std::vector<std::int64_t> small, large;
  std::int64_t d = 1;
  for (; d <= kMaxListedDivisor && d <= n / d; ++d) {
    if (n % d != 0) continue;
    small.push_back(d);
    if (d != n / d && n / d <= kMaxListedDivisor) large.push_back(n / d);
  }
  const bool complete = d > n / d;  // every divisor pair was visited
  std::vector<std::int64_t> all = small;
  all.insert(all.end(), large.rbegin(), large.rend());
  std::string out;
  for (std::size_t i = 0; i < all.size() && i < kMaxListed; ++i) out += (i ? ", " : "") + std::to_string(all[i]);
  if (all.size() > kMaxListed) out += ", ... (" + std::to_string(all.size() - kMaxListed) + " more)";
  const std::int64_t largest_listed = all.empty() ? 0 : all.back();
  if (!complete || largest_listed < n) out += " (tp up to " + std::to_string(kMaxListedDivisor) + " listed)";
  return out;
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
