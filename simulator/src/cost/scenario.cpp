/// \file scenario.cpp
/// \brief A costed request: validation with clear errors, the dry run, the timeline.
#include "atp/sim/cost/scenario.hpp"

#include "atp/sim/layers/qkv_parallel_linear.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"

#include <algorithm>
#include <stdexcept>

namespace atp::cost {

namespace sdry = sim::dry;

const char* to_string(Phase p) { return p == Phase::Prefill ? "prefill" : "decode"; }

Phase parse_phase(const std::string& text) {
  if (text == "prefill") return Phase::Prefill;
  if (text == "decode") return Phase::Decode;
  throw std::invalid_argument("phase '" + text + "' is unknown; valid: prefill, decode");
}

std::vector<sdry::ImageSize> default_images(const VisionModel& v, int n) {
  static const std::vector<sdry::ImageSize> cycle = {{1120, 840}, {448, 448}, {812, 616},
                                                      {1344, 1008}, {336, 336}, {672, 504}};
  std::vector<sdry::ImageSize> out;
  for (int i = 0; i < n; ++i)
    out.push_back(v.fixed_image > 0 ? sdry::ImageSize{v.fixed_image, v.fixed_image}
                                    : cycle[static_cast<std::size_t>(i) % cycle.size()]);
  return out;
}

namespace {

struct Parts {
  const VlmModel* vlm = nullptr;
  const VisionModel* vision = nullptr;
  const ProjectorModel* projector = nullptr;
  const DecoderModel* decoder = nullptr;
};

Parts parts_of(const std::string& model) {
  const ModelCatalog& c = model_catalog();
  Parts p;
  for (const VlmModel& v : c.vlms)
    if (v.name == model) {
      p.vlm = &v;
      p.vision = &c.vision_model(v.vision);
      p.projector = v.projector.empty() ? nullptr : &c.projector(v.projector);
      p.decoder = &c.decoder(v.decoder);
      return p;
    }
  for (const DecoderModel& d : c.decoders)
    if (d.shape.name == model) {
      p.decoder = &d;
      return p;
    }
  throw std::invalid_argument("unknown model '" + model + "'; vision-language models: " + c.vlm_names() +
                              "; text-only decoders: " + c.decoder_names());
}

/// Throws naming the part that p cannot split.
void check_split(const Parts& parts, int p) {
  const sdry::DecoderShape& d = parts.decoder->shape;
  sim::check_attention_heads(d.heads, d.kv_heads, p);
  sim::vocab_per_rank(d.vocab, p);
  if (parts.projector != nullptr && parts.projector->shape.hidden % p != 0)
    throw std::invalid_argument("the projector's width " + std::to_string(parts.projector->shape.hidden) +
                                " is not divisible by tp " + std::to_string(p));
}

}  // namespace

std::string valid_tp_for(const std::string& model, const HardwareProfile& hw) {
  const Parts parts = parts_of(model);
  std::string out;
  for (int p = 1; p <= hw.max_ranks(); ++p) {
    try {
      check_split(parts, p);
    } catch (const std::invalid_argument&) {
      continue;
    }
    out += (out.empty() ? "" : ", ") + std::to_string(p);
  }
  return out.empty() ? "none" : out;
}

void validate(const Scenario& s, const HardwareProfile& hw) {
  const Parts parts = parts_of(s.model);
  hw.nodes_for(s.tp);
  try {
    check_split(parts, s.tp);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(s.model + " cannot run at tp " + std::to_string(s.tp) + ": " + e.what() +
                                "; valid tp for " + s.model + " on " + hw.name + ": " + valid_tp_for(s.model, hw));
  }
  if (s.images < 0 || s.images > 64)
    throw std::invalid_argument("images " + std::to_string(s.images) + " is out of range; valid: 0..64");
  if (parts.vision == nullptr && s.images > 0)
    throw std::invalid_argument(s.model + " is a text-only decoder: it takes no images (use --images 0, or a "
                                "vision-language model: " + model_catalog().vlm_names() + ")");
  if (parts.vision != nullptr && parts.vision->fixed_image > 0 && !s.image_sizes.empty())
    throw std::invalid_argument(s.model + " resizes every image to " + std::to_string(parts.vision->fixed_image) + "x" +
                                std::to_string(parts.vision->fixed_image) +
                                " pixels; image sizes apply only to native-resolution encoders (qwen2.5-vl-7b)");
  if (parts.vision != nullptr)
    for (const auto& img : s.image_sizes) sdry::image_patches(parts.vision->shape, img);  // throws naming the size
  if (s.text_tokens < 0 || s.context < 0)
    throw std::invalid_argument("text tokens " + std::to_string(s.text_tokens) + " and context " +
                                std::to_string(s.context) + " must be >= 0");
  if (s.phase == Phase::Prefill && s.text_tokens + s.images == 0)
    throw std::invalid_argument("a prefill needs at least one text token or one image");
}

ScenarioResult run_scenario(const Scenario& s, const HardwareProfile& hw, const CostOptions& options) {
  validate(s, hw);
  const Parts parts = parts_of(s.model);
  const sdry::DecoderShape& d = parts.decoder->shape;
  ScenarioResult res;
  res.has_vision = parts.vision != nullptr;
  res.strategy_used = s.strategy;
  sim::World world(s.tp);
  if (s.phase == Phase::Decode) {
    sdry::decoder_step(world, d, 1, s.context, s.order, s.logits, "decoder");
    res.decoder_tokens = 1;
  } else if (parts.vision == nullptr) {
    sdry::decoder_step(world, d, s.text_tokens, 0, s.order, s.logits, "decoder");
    res.decoder_tokens = s.text_tokens;
  } else {
    if (s.image_sizes.empty()) {
      res.images = default_images(*parts.vision, s.images);
    } else {
      for (int i = 0; i < s.images; ++i) res.images.push_back(s.image_sizes[static_cast<std::size_t>(i) % s.image_sizes.size()]);
    }
    if (s.strategy == sdry::EncoderStrategy::Weights) {
      const std::string why = sdry::weights_obstacle(parts.vision->shape, s.tp);
      if (!why.empty()) {
        res.strategy_used = sdry::EncoderStrategy::Data;
        res.note = "strategy B (weights) is impossible at tp " + std::to_string(s.tp) + ": " + why +
                   "; ran strategy C (data) instead, as vLLM falls back to data parallelism";
      }
    }
    res.decoder_tokens =
        sdry::vlm_prefill(world, res.strategy_used, parts.vision->shape,
                          parts.projector ? &parts.projector->shape : nullptr, d, res.images, s.text_tokens, s.order,
                          s.logits);
    res.image_tokens = res.decoder_tokens - s.text_tokens;
  }
  res.trace_events = world.trace().events().size();
  CostOptions o = options;
  // Query heads per KV head on one rank: nH/nKV while the KV heads split, nH/p once each rank holds one replica.
  const int group = (d.heads / s.tp) / std::max(1, d.kv_heads / s.tp);
  if (!o.kv_group)
    o.kv_group = [group](const std::string& stem) { return stem.rfind("decoder.", 0) == 0 ? group : 1; };
  res.timeline = schedule(world.trace(), hw, o);
  return res;
}

}  // namespace atp::cost
