/// \file image_assignment.cpp
/// \brief vLLM's greedy image-to-rank load balance.
#include "atp/sim/vision/image_assignment.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace atp::sim {

std::vector<int> ImageAssignment::order() const {
  std::vector<int> out;
  for (const auto& imgs : images_of_rank) out.insert(out.end(), imgs.begin(), imgs.end());
  return out;
}

std::string ImageAssignment::describe(const std::vector<std::int64_t>& sizes) const {
  std::string out;
  for (int r = 0; r < ranks(); ++r) {
    out += (r == 0 ? "" : " | ") + std::string("rank ") + std::to_string(r) + ":";
    if (images_of_rank[static_cast<std::size_t>(r)].empty()) out += " none";
    bool first = true;
    for (int i : images_of_rank[static_cast<std::size_t>(r)]) {
      out += (first ? " " : ", ") + std::to_string(i) + " (" + std::to_string(sizes[static_cast<std::size_t>(i)]) +
             ")";
      first = false;
    }
  }
  return out;
}

ImageAssignment assign_images(const std::vector<std::int64_t>& sizes, int p) {
  if (p < 1) throw std::invalid_argument("assign_images: p = " + std::to_string(p) + "; p must be >= 1");
  for (std::size_t i = 0; i < sizes.size(); ++i)
    if (sizes[i] < 0)
      throw std::invalid_argument("assign_images: image " + std::to_string(i) + " has size " +
                                  std::to_string(sizes[i]) + "; sizes must be >= 0");
  ImageAssignment a;
  a.images_of_rank.assign(static_cast<std::size_t>(p), {});
  a.load.assign(static_cast<std::size_t>(p), 0);
  std::vector<int> largest_first(sizes.size());
  std::iota(largest_first.begin(), largest_first.end(), 0);
  // Python's sorted(..., reverse=True) is stable: equal sizes keep their index order.
  std::stable_sort(largest_first.begin(), largest_first.end(),
                   [&](int x, int y) { return sizes[static_cast<std::size_t>(x)] > sizes[static_cast<std::size_t>(y)]; });
  for (int i : largest_first) {
    // min() over ranks returns the first minimum: the lowest rank among equal loads.
    const auto least = std::min_element(a.load.begin(), a.load.end());
    const auto r = static_cast<std::size_t>(least - a.load.begin());
    a.images_of_rank[r].push_back(i);
    a.load[r] += sizes[static_cast<std::size_t>(i)];
  }
  return a;
}

}  // namespace atp::sim
