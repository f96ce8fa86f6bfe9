/// \file vision_language_model.cpp
/// \brief The VLM's one request: vision half, merge, prefill from embeddings, greedy decode.
#include "atp/sim/models/vision_language_model.hpp"

#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/narrate.hpp"
#include "atp/sim/vision/multimodal_merge.hpp"
#include "atp/ulp.hpp"

#include <stdexcept>

namespace atp::sim {

std::vector<std::int64_t> vlm_prompt(std::int64_t bos, const std::string& before, std::int64_t image_tokens,
                                     std::int64_t image_token, const std::string& after) {
  if (image_tokens < 0)
    throw std::invalid_argument("vlm_prompt: " + std::to_string(image_tokens) + " image tokens; must be >= 0");
  std::vector<std::int64_t> ids = {bos};
  for (unsigned char c : before) ids.push_back(c);
  ids.insert(ids.end(), static_cast<std::size_t>(image_tokens), image_token);
  for (unsigned char c : after) ids.push_back(c);
  return ids;
}

VlmGeneration vlm_generate(World& world, const ParallelDecoder& decoder, const VisionTower& tower,
                           EncoderStrategy strategy, const std::vector<Image>& images,
                           const std::vector<std::int64_t>& prompt, std::int64_t image_token, int steps) {
  const int p = world.size();
  if (tower.output_width() != decoder.config().hidden)
    throw std::invalid_argument("vlm_generate: the projector maps into width " + std::to_string(tower.output_width()) +
                                " but the decoder's hidden size is " + std::to_string(decoder.config().hidden));
  if (steps < 1) throw std::invalid_argument("vlm_generate: steps " + std::to_string(steps) + " must be >= 1");
  VlmGeneration g;
  g.strategy = choose_encoder_strategy(strategy, tower.encoder, p);
  if (!g.strategy.message.empty()) narrate_text(world, g.strategy.message);
  g.vision = image_features(world, g.strategy.used, tower, images, "vlm.vision");
  g.text = decoder.embed(world, prompt, "vlm.embed");
  g.merged = merge_multimodal_embeddings(g.text, prompt, image_token, g.vision.features);
  for (int r = 1; r < p; ++r)
    if (!compare_bitwise(g.merged[r], g.merged[0]).equal())
      throw std::logic_error("vlm_generate: rank " + std::to_string(r) + "'s merged embeddings differ from rank 0's");
  narrate(world, "vlm: text embeddings with the placeholder rows overwritten by the image features (every rank)",
          g.merged);
  DecoderState state = decoder.new_state(static_cast<std::int64_t>(prompt.size()) + steps);
  PerRank<Matrix> hidden = decoder.forward_embeddings(world, g.merged, state, "vlm.decoder");
  for (int step = 0; step < steps; ++step) {
    const PerRank<Matrix> logits = decoder.last_logits(world, hidden, "vlm.lm_head");
    const std::int64_t id = dense_argmax(logits[0])[0];
    g.generated.push_back(id);
    g.logits.push_back(logits[0]);
    if (step == 0) g.trace_prefill_end = static_cast<std::int64_t>(world.trace().events().size());
    if (step + 1 < steps) hidden = decoder.forward(world, {id}, state, "vlm.decoder");
  }
  return g;
}

}  // namespace atp::sim
