/// \file vision_language_model.hpp
/// \brief A tensor-parallel vision-language model on p simulated ranks
///        (chapter 9): chapter 8's encoder under a strategy, the projector,
///        the merge into the text embeddings, chapter 7's decoder, greedy
///        generation from the merged embeddings.
///
/// Legend: T = prompt tokens, N = image tokens (placeholders), D = decoder
/// width, V = vocabulary, L = decoder blocks, p = ranks.
///
///     images --image_features(strategy)--> (N, D) on every rank     A: broadcast | B: 2 L_vit all-reduces | C: all-gather,
///                                                                    then the projector's all-reduce
///     ids ----decoder.embed-----------------> (T, D) on every rank  the vocab-parallel all-reduce (chapter 6)
///     merged = merge_multimodal_embeddings(text, ids, <img>, features)   local, no communication
///     prefill: decoder.forward_embeddings(merged) -> last_logits -> argmax       2L all-reduces + the logits all-gather
///     decode:  decoder.forward({id}) -> last_logits -> argmax, once per new token
///
/// The decoder needs the whole merged (T, D) on every rank before its first
/// block: each block's QKV and MLP inputs are replicated (column-parallel
/// layers read all of x). That is guaranteed here by construction: both
/// inputs of the merge are replicated by the collective that produced them,
/// and the merge is the same copy on every rank. vlm_generate() checks it
/// (every rank's merged matrix bit for bit) before the prefill.
/// Leaves out: batching requests, an encoder cache, sampling other than greedy.
#pragma once

#include "atp/sim/models/parallel_decoder.hpp"
#include "atp/sim/vision/image_features.hpp"
#include "atp/sim/world.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp::sim {

/// The image placeholder of the book's VLM on fortune-llama: byte 0, which the
/// fortunes never contain (BOS is byte 1). Its embedding row is overwritten.
inline constexpr std::int64_t kImageToken = 0;

/// BOS, the bytes of `before`, `image_tokens` placeholders, the bytes of `after`.
/// \throws std::invalid_argument if image_tokens < 0.
std::vector<std::int64_t> vlm_prompt(std::int64_t bos, const std::string& before, std::int64_t image_tokens,
                                     std::int64_t image_token, const std::string& after);

/// One request through the VLM, per rank where it matters.
struct VlmGeneration {
  StrategyChoice strategy;               ///< the encoder strategy asked for and the one that ran
  ImageFeatures vision;                  ///< the encoder's output and the projected features (N, D)
  PerRank<Matrix> text;                  ///< (T, D): the prompt ids' embeddings (placeholders included)
  PerRank<Matrix> merged;                ///< (T, D): the decoder's input, the same bits on every rank
  std::vector<std::int64_t> generated;   ///< one id per step
  std::vector<Matrix> logits;            ///< per step, rank 0's (1, V)
  std::int64_t trace_prefill_end = 0;    ///< index of the first trace event after the prefill's logits
};

/// Encodes `images` with `strategy` (falling back as choose_encoder_strategy
/// says), projects, merges into the embeddings of `prompt` (which must hold
/// exactly N `image_token` ids), prefills the decoder from the merged
/// embeddings and generates `steps` tokens greedily. Labels: "vlm.vision...",
/// "vlm.embed", "vlm.decoder", "vlm.lm_head".
/// \throws std::invalid_argument if the projector's width is not the decoder's,
///         the placeholder count is not N (merge_multimodal_embeddings' message),
///         or the sequence does not fit max_seq_len; std::logic_error if the
///         ranks' merged embeddings differ (they cannot, by construction).
VlmGeneration vlm_generate(World& world, const ParallelDecoder& decoder, const VisionTower& tower,
                           EncoderStrategy strategy, const std::vector<Image>& images,
                           const std::vector<std::int64_t>& prompt, std::int64_t image_token, int steps);

}  // namespace atp::sim
