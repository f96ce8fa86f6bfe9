/// \file chapter_registry.cpp
/// \brief The table of chapters with a GPU half (see chapter_registry.hpp).
#include "atp/sim/chapter_registry.hpp"

#include <stdexcept>

namespace atp::sim {

const std::vector<ChapterSpec>& chapter_specs() {
  static const std::vector<ChapterSpec> specs = {
      // Chapter 0 runs on one GPU; its summation experiments are host arithmetic.
      {0, "00-numbers-that-match", false, {{"n", 1000}}, {1, 2, 4}, {"sums", "rank_partial_sums"},
       {"--samples", "1024"}},
      {1, "01-ranks-and-collectives", true, {{"rows", 2}, {"cols", 8}}, {1, 2, 4}, {}, {}},
  };
  return specs;
}

const ChapterSpec& chapter_spec(int number) {
  std::string valid;
  for (const auto& s : chapter_specs()) {
    if (s.number == number) return s;
    valid += (valid.empty() ? "" : ", ") + std::to_string(s.number);
  }
  throw std::invalid_argument("chapter " + std::to_string(number) + " has no GPU half; chapters with one: " + valid);
}

std::string chapter_binary_name(const ChapterSpec& spec) {
  // "01-ranks-and-collectives" -> "atp-ch01-ranks-and-collectives"
  return "atp-ch" + spec.folder;
}

}  // namespace atp::sim
