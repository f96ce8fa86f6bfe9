/// \file multimodal_merge.cpp
/// \brief masked_scatter of image features into the placeholder rows.
#include "atp/sim/vision/multimodal_merge.hpp"

#include <stdexcept>
#include <string>

namespace atp::sim {

std::vector<Eigen::Index> placeholder_positions(const std::vector<std::int64_t>& ids, std::int64_t placeholder) {
  std::vector<Eigen::Index> at;
  for (std::size_t t = 0; t < ids.size(); ++t)
    if (ids[t] == placeholder) at.push_back(static_cast<Eigen::Index>(t));
  return at;
}

Matrix merge_multimodal_embeddings(const Matrix& text, const std::vector<std::int64_t>& ids, std::int64_t placeholder,
                                   const Matrix& features) {
  if (text.rows() != static_cast<Eigen::Index>(ids.size()))
    throw std::invalid_argument("merge_multimodal_embeddings: " + std::to_string(ids.size()) +
                                " token ids but text embeddings " + shape_string(text));
  const std::vector<Eigen::Index> at = placeholder_positions(ids, placeholder);
  if (static_cast<Eigen::Index>(at.size()) != features.rows())
    throw std::invalid_argument("merge_multimodal_embeddings: the prompt has " + std::to_string(at.size()) +
                                " image placeholder tokens (id " + std::to_string(placeholder) + ") but the images "
                                "give " + std::to_string(features.rows()) + " feature rows; they must be equal "
                                "(one placeholder per feature row)");
  if (!at.empty() && features.cols() != text.cols())
    throw std::invalid_argument("merge_multimodal_embeddings: image features " + shape_string(features) +
                                " do not have the text embeddings' width " + std::to_string(text.cols()) +
                                " (the projector must map into the decoder's width)");
  Matrix merged = text;
  for (std::size_t k = 0; k < at.size(); ++k) merged.row(at[k]) = features.row(static_cast<Eigen::Index>(k));
  return merged;
}

PerRank<Matrix> merge_multimodal_embeddings(const PerRank<Matrix>& text, const std::vector<std::int64_t>& ids,
                                            std::int64_t placeholder, const PerRank<Matrix>& features) {
  if (text.size() != features.size())
    throw std::invalid_argument("merge_multimodal_embeddings: text on " + std::to_string(text.size()) +
                                " ranks, features on " + std::to_string(features.size()));
  return make_per_rank(text.size(), [&](int r) -> Matrix {
    return merge_multimodal_embeddings(text[r], ids, placeholder, features[r]);
  });
}

}  // namespace atp::sim
