/// \file scenario.hpp
/// \brief One costed request: a model from the catalog, an encoder strategy,
///        p ranks, images and text, prefill or one decode step, on one
///        hardware profile: the dry run recorded, then priced and placed in
///        time. What atp-cost and chapter 10's sweeps run.
///
/// A VLM prefill runs vision (strategy A, B or C), the projector and the
/// decoder over text + image tokens up to the first token's logits: its
/// makespan is the model's time to first token. A decode step runs the
/// decoder on one token after `context` cached ones (the vision encoder does
/// not run again). A text-only model (a decoder name) has no vision part.
/// Strategy B falls back to C when p cannot split the encoder, as vLLM does
/// (is_vit_use_data_parallel), and the result says so.
/// Leaves out: batching several requests, queueing, the CPU side of serving.
#pragma once

#include "atp/sim/cost/hardware.hpp"
#include "atp/sim/cost/models.hpp"
#include "atp/sim/cost/op_cost.hpp"
#include "atp/sim/cost/timeline.hpp"
#include "atp/sim/plan/dry_models.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp::cost {

/// Which part of serving a request.
enum class Phase {
  Prefill,  ///< the prompt, images included, up to the first token's logits
  Decode,   ///< one token after `context` cached ones
};
/// "prefill" or "decode".
const char* to_string(Phase p);
/// Parses to_string() names. \throws std::invalid_argument naming the text and the valid names.
Phase parse_phase(const std::string& text);

/// The request and how it runs.
struct Scenario {
  std::string model = "llava-1.5-7b";  ///< a VLM or a decoder of the catalog
  sim::dry::EncoderStrategy strategy = sim::dry::EncoderStrategy::Data;  ///< the vision encoder's strategy
  int tp = 8;                          ///< ranks p
  int images = 4;                      ///< images in the request (VLMs)
  std::vector<sim::dry::ImageSize> image_sizes;  ///< explicit sizes (cycled); empty: default_images()
  std::int64_t text_tokens = 64;       ///< prompt text tokens
  Phase phase = Phase::Prefill;        ///< prefill or one decode step
  std::int64_t context = 0;            ///< decode: tokens already cached
  sim::ReduceOrder order = sim::ReduceOrder::RankOrder;  ///< the book's all-reduce in the trace
  sim::LogitsCollective logits = sim::LogitsCollective::AllGather;  ///< how the logits are gathered
};

/// What a scenario cost.
struct ScenarioResult {
  Timeline timeline;                         ///< every rank's spans
  std::vector<sim::dry::ImageSize> images;   ///< the images that ran
  std::int64_t decoder_tokens = 0;           ///< T of the decoder step
  std::int64_t image_tokens = 0;             ///< of which image tokens
  sim::dry::EncoderStrategy strategy_used = sim::dry::EncoderStrategy::Data;  ///< after a fallback
  std::string note;                          ///< why the strategy changed ("" when it did not)
  std::size_t trace_events = 0;              ///< events the dry run recorded
  bool has_vision = false;                   ///< a VLM (false: a text-only decoder)
};

/// The model's default images: n copies of its fixed size (CLIP: 336 x 336), or for
/// native-resolution encoders a fixed cycle of photo-like sizes, all multiples of 28:
/// 1120x840, 448x448, 812x616, 1344x1008, 336x336, 672x504.
std::vector<sim::dry::ImageSize> default_images(const VisionModel& v, int n);

/// Checks the scenario against the catalog and the profile before anything runs.
/// \throws std::invalid_argument naming the bad value and what would be valid: an unknown model,
///         tp outside the profile or not splitting the model (with the valid tp), images outside
///         0..64, image sizes for a fixed-size encoder, negative tokens, a decode with images.
void validate(const Scenario& s, const HardwareProfile& hw);

/// Records the dry run of `s`, prices it on `hw` and places it in time. \throws as validate().
ScenarioResult run_scenario(const Scenario& s, const HardwareProfile& hw, const CostOptions& options);

/// The tp values (1..max) the model can split over on `hw`: "1, 2, 4, 8".
std::string valid_tp_for(const std::string& model, const HardwareProfile& hw);

}  // namespace atp::cost
