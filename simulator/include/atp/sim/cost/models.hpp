/// \file models.hpp
/// \brief The real model shapes chapter 10 prices (Llama-2-7B, Qwen2.5-VL-7B,
///        CLIP ViT-L/14-336, ...), read from simulator/data/cost/models.json,
///        each with the config.json it comes from.
///
/// A VLM names its vision encoder, its projector (or none: Qwen2.5-VL's
/// merger is part of its vision tower) and its decoder. The shapes feed the
/// dry runs of plan/dry_models.hpp. Leaves out: weights (nothing is read),
/// tokenizers, image preprocessing beyond the patch grid.
#pragma once

#include "atp/sim/plan/dry_models.hpp"

#include <string>
#include <vector>

namespace atp::cost {

/// A decoder in the catalog.
struct DecoderModel {
  sim::dry::DecoderShape shape;  ///< the shape the dry run uses
  std::string source;            ///< the config.json it comes from
};

/// A vision encoder in the catalog.
struct VisionModel {
  sim::dry::VisionShape shape;  ///< the shape the dry run uses
  int fixed_image = 0;          ///< > 0: every image is resized to fixed_image x fixed_image pixels (CLIP)
  std::string source;           ///< the config.json it comes from
};

/// A projector in the catalog.
struct ProjectorModel {
  sim::dry::ProjectorShape shape;  ///< the shape the dry run uses
  std::string source;              ///< where it is defined
};

/// A vision-language model: names of its parts.
struct VlmModel {
  std::string name;       ///< "llava-1.5-7b"
  std::string vision;     ///< a VisionModel name
  std::string projector;  ///< a ProjectorModel name, or "" (merger inside the vision tower)
  std::string decoder;    ///< a DecoderModel name
  std::string source;     ///< where the composition is defined
};

/// Everything in models.json.
struct ModelCatalog {
  std::vector<DecoderModel> decoders;      ///< text decoders
  std::vector<VisionModel> vision;         ///< vision encoders
  std::vector<ProjectorModel> projectors;  ///< projectors
  std::vector<VlmModel> vlms;              ///< vision-language models

  /// The decoder `name`. \throws std::invalid_argument listing the known decoders.
  const DecoderModel& decoder(const std::string& name) const;
  /// The vision encoder `name`. \throws std::invalid_argument listing the known encoders.
  const VisionModel& vision_model(const std::string& name) const;
  /// The projector `name`. \throws std::invalid_argument listing the known projectors.
  const ProjectorModel& projector(const std::string& name) const;
  /// The VLM `name`. \throws std::invalid_argument listing the known VLMs.
  const VlmModel& vlm(const std::string& name) const;
  /// "llava-1.5-7b, qwen2.5-vl-7b".
  std::string vlm_names() const;
  /// "llama-2-7b, ...".
  std::string decoder_names() const;
};

/// Parses the atp-cost-models format. \throws std::invalid_argument naming the field, or a VLM part that is not in the file.
ModelCatalog parse_model_catalog(const std::string& json_text, const std::string& origin);
/// The compiled-in catalog (simulator/data/cost/models.json).
const ModelCatalog& model_catalog();

}  // namespace atp::cost
