/// \file vision_language_model.cpp
/// \brief The VLM's one request on a GPU rank.
#include "atp/cuda/models/vision_language_model.hpp"

#include "atp/cuda/collectives.hpp"
#include "atp/cuda/vision/multimodal_merge.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {

VlmGeneration vlm_generate(Communicator& comm, Communicator& local, const ParallelDecoder& decoder,
                           const atp::sim::VisionTower& tower, atp::sim::EncoderStrategy strategy,
                           const std::vector<Image>& images, const std::vector<std::int64_t>& prompt,
                           std::int64_t image_token, int steps) {
  if (tower.output_width() != decoder.config().hidden)
    throw std::invalid_argument("vlm_generate: the projector maps into width " + std::to_string(tower.output_width()) +
                                " but the decoder's hidden size is " + std::to_string(decoder.config().hidden));
  if (steps < 1) throw std::invalid_argument("vlm_generate: steps " + std::to_string(steps) + " must be >= 1");
  VlmGeneration g;
  g.strategy = atp::sim::choose_encoder_strategy(strategy, tower.encoder, comm.world_size());
  g.vision = image_features(comm, local, g.strategy.used, tower, images);
  g.text = decoder.embed(comm, prompt);
  g.merged = merge_multimodal_embeddings(g.text, prompt, image_token, g.vision.features, comm.stream());
  DecoderState state = decoder.new_state(static_cast<std::int64_t>(prompt.size()) + steps);
  DeviceMatrix hidden = decoder.forward_embeddings(comm, g.merged, state);
  for (int step = 0; step < steps; ++step) {
    const Matrix logits = to_host(decoder.last_logits(comm, hidden), comm.stream());
    // Every rank holds the gathered logits (the all-gather) and picks the same id, as the simulator.
    if (logits.size() == 0)
      throw std::invalid_argument("vlm_generate: rank " + std::to_string(comm.rank()) + " got no logits; the VLM "
                                  "needs them on every rank (logits gathered with an all-gather, not to rank 0)");
    const std::int64_t id = atp::sim::dense_argmax(logits)[0];
    g.generated.push_back(id);
    g.logits.push_back(logits);
    if (step + 1 < steps) hidden = decoder.forward(comm, {id}, state);
  }
  return g;
}

}  // namespace atp::cuda
