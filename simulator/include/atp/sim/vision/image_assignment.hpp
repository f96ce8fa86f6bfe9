/// \file image_assignment.hpp
/// \brief Which rank encodes which image under the data-parallel strategy:
///        vLLM's greedy load balance, largest image first to the least-loaded rank.
///
/// vLLM's get_load_balance_assignment (vllm/model_executor/models/vision.py,
/// used by run_dp_sharded_mrope_vision_model when mm_encoder_tp_mode="data";
/// SGLang copies it as get_dp_encoder_lb_assignment in
/// python/sglang/srt/multimodal/mm_utils.py) balances the total number of
/// patches, not the number of images:
///
///     sort the images by patch count, largest first (ties: lower index first, a stable sort)
///     for each: give it to the rank with the fewest patches so far (ties: the lowest rank)
///
/// It returns, per rank, its images in the order it received them, and the
/// patch load of each rank. The book adds one thing vLLM leaves implicit: the
/// padded length every rank's output is stretched to before the all-gather,
/// which must be the longest rank's number of output ROWS (patches plus one
/// class-token row per image here), not of patches. Leaves out: balancing by
/// cost instead of patches (attention is quadratic in an image's patches, so
/// equal patch loads are not equal flops; chapter 8 measures the difference).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace atp::sim {

/// The data-parallel assignment of B images to p ranks.
struct ImageAssignment {
  std::vector<std::vector<int>> images_of_rank;  ///< per rank: image indices, in the order assigned
  std::vector<std::int64_t> load;                ///< per rank: sum of its images' sizes (patches)

  /// Ranks p.
  int ranks() const { return static_cast<int>(load.size()); }
  /// vLLM's shuffle_indices: rank 0's images, then rank 1's, ...
  std::vector<int> order() const;
  /// "rank 0: 0 (64) | rank 1: 1 (24), 2 (4) | ...": the assignment in one line, with sizes.
  std::string describe(const std::vector<std::int64_t>& sizes) const;
};

/// vLLM's get_load_balance_assignment on `sizes` (patches per image, each >= 0) for p ranks.
/// \throws std::invalid_argument unless p >= 1 and every size >= 0 (names the bad one).
ImageAssignment assign_images(const std::vector<std::int64_t>& sizes, int p);

}  // namespace atp::sim
