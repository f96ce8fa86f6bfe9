/// \file dense_vlm_reference.cpp
/// \brief The float64 VLM: features per image, the merge, greedy decoding.
#include "atp/dense_vlm_reference.hpp"

#include "atp/dense_vit_reference.hpp"

#include <stdexcept>
#include <string>

namespace atp {

MatrixD vlm_features_ref(const VitConfig& config, const VitWeights& vit, const ProjectorWeights& projector,
                         const std::vector<Image>& images, int merge, double eps) {
  std::vector<MatrixD> parts;
  Eigen::Index rows = 0;
  for (const Image& image : images) {
    const MatrixD out = vit_ref(config, vit, image).out;
    const int first = config.class_token && merge == 0 ? 1 : 0;  // LLaVA drops the class token's row
    const MatrixD patches = out.bottomRows(out.rows() - first);
    parts.push_back(merge == 0 ? llava_projector_ref(patches, projector)
                               : patch_merger_ref(patches, patch_grid(image, config.patch), merge, projector, eps));
    rows += parts.back().rows();
  }
  MatrixD features(rows, parts.empty() ? projector.W2.rows() : parts.front().cols());
  Eigen::Index at = 0;
  for (const MatrixD& f : parts) {
    features.middleRows(at, f.rows()) = f;
    at += f.rows();
  }
  return features;
}

std::vector<int> vlm_generate_ref(const DecoderWeightsRef& decoder, const std::vector<std::int64_t>& ids,
                                  std::int64_t image_token, const MatrixD& features, int steps,
                                  std::vector<MatrixD>* step_logits) {
  const DecoderShapeRef& s = decoder.shape;
  Eigen::Index placeholders = 0;
  for (std::int64_t id : ids) placeholders += id == image_token ? 1 : 0;
  if (placeholders != features.rows() || features.cols() != s.dim)
    throw std::invalid_argument("vlm_generate_ref: the prompt has " + std::to_string(placeholders) +
                                " placeholders (id " + std::to_string(image_token) + ") and the features are (" +
                                std::to_string(features.rows()) + ", " + std::to_string(features.cols()) +
                                "); they need one row per placeholder and D = " + std::to_string(s.dim) + " columns");
  MatrixD x(static_cast<Eigen::Index>(ids.size()), s.dim);
  Eigen::Index next = 0;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const std::int64_t id = ids[t];
    if (id < 0 || id >= s.vocab_size)
      throw std::invalid_argument("vlm_generate_ref: ids[" + std::to_string(t) + "] = " + std::to_string(id) +
                                  " is not a token id; valid ids are 0 .. " + std::to_string(s.vocab_size - 1));
    x.row(static_cast<Eigen::Index>(t)) = id == image_token ? features.row(next++) : decoder.tok_embedding.row(id);
  }
  DenseDecoderRef model(decoder);
  if (step_logits != nullptr) step_logits->clear();
  MatrixD logits = model.forward_embeddings(x);
  std::vector<int> generated;
  for (int i = 0; i < steps; ++i) {
    const MatrixD last = logits.bottomRows(1);
    if (step_logits != nullptr) step_logits->push_back(last);
    generated.push_back(argmax_ref(last));
    if (i + 1 < steps) logits = model.forward({generated.back()});
  }
  return generated;
}

}  // namespace atp
