/// \file dense_vlm_reference.hpp
/// \brief The dense float64 vision-language model (chapter 9): each image
///        through the float64 ViT (dense_vit_reference.hpp), the float64
///        projector (projector_weights.hpp), the features written over the
///        placeholder rows of the token embeddings, then the float64 decoder
///        (dense_decoder_reference.hpp) generating greedily.
///
/// Written from the model's definition, no parallelism, no float32: what the
/// tensor-parallel VLM's ids are checked against. Legend: N = image tokens,
/// D = the decoder's width, T = prompt ids.
///
///     LLaVA:  features_i = llava_projector_ref(vit_ref(image_i).out without its class-token row)
///     merger: features_i = patch_merger_ref(vit_ref(image_i).out, grid_i, merge, eps)
///     x = tok_embedding[ids]; the rows whose id is image_token <- the features, in order
///     logits = forward_embeddings(x); then one forward({id}) per greedy step
///
/// Leaves out: batching, sampling other than greedy, float32 anything.
#pragma once

#include "atp/dense_decoder_reference.hpp"
#include "atp/projector_weights.hpp"
#include "atp/vit_image.hpp"
#include "atp/vit_weights.hpp"

#include <cstdint>
#include <vector>

namespace atp {

/// The float64 image features (N, D) of `images`, in image order. `merge` = 0
/// selects LLaVA's projector (the class token, if any, dropped per image);
/// merge >= 1 the patch merger with that merge size and LayerNorm epsilon `eps`.
/// \throws std::invalid_argument as vit_ref, llava_projector_ref and patch_merger_ref.
MatrixD vlm_features_ref(const VitConfig& config, const VitWeights& vit, const ProjectorWeights& projector,
                         const std::vector<Image>& images, int merge, double eps);

/// Greedy generation of `steps` ids from the prompt `ids`, whose `image_token`
/// rows receive the rows of `features` (N, D) in order; every step's logits
/// (1, V) into *step_logits if given.
/// \throws std::invalid_argument unless exactly N ids are image_token and
///         features has D columns (the counts named), or if the sequence
///         does not fit max_seq_len.
std::vector<int> vlm_generate_ref(const DecoderWeightsRef& decoder, const std::vector<std::int64_t>& ids,
                                  std::int64_t image_token, const MatrixD& features, int steps,
                                  std::vector<MatrixD>* step_logits = nullptr);

}  // namespace atp
