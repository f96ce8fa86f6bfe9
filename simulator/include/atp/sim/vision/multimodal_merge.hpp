/// \file multimodal_merge.hpp
/// \brief Image features into the text embeddings: the placeholder rows of
///        the prompt overwritten, in order, by the projected image features.
///
/// Legend: T = prompt tokens, D = decoder width, N = image feature rows.
///
///     ids        [ bos, "describe", <img>, <img>, ..., <img>, ":", ... ]   T ids, N of them <img>
///     text (T, D)  = VocabParallelEmbedding(ids)      (chapter 6: one all-reduce, on every rank)
///     features (N, D) = projector(encoder(images))    (on every rank, chapters 8-9)
///     merged (T, D): row t = features row k if ids[t] is the k-th <img>, else text row t
///
/// This is torch's masked_scatter with the placeholder mask, which vLLM's
/// _merge_multimodal_embeddings (vllm/model_executor/models/utils.py) and
/// Hugging Face's LLaVA (get_placeholder_mask, then masked_scatter) use. Both
/// check that the counts agree (vLLM notes that masked_scatter alone would not
/// complain about surplus features); here a mismatch is always an error that
/// says how many placeholders and how many feature rows there are.
///
/// Where the full merged sequence comes from: text and features are each on
/// every rank already (the embedding's all-reduce; A's broadcast, B's
/// all-reduces, C's all-gather, then the projector's all-reduce), so the merge
/// is local, identical on every rank, and moves no bytes. Bits only: the
/// merged rows are copies. Leaves out: several modalities, placeholder ids
/// outside the vocabulary (vLLM's is_multimodal mask handles those).
#pragma once

#include "atp/sim/per_rank.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <vector>

namespace atp::sim {

/// Positions t with ids[t] == placeholder, ascending.
std::vector<Eigen::Index> placeholder_positions(const std::vector<std::int64_t>& ids, std::int64_t placeholder);

/// text (T, D) with the rows at placeholder positions replaced, in order, by the rows of features (N, D).
/// \throws std::invalid_argument naming both counts when the prompt's
///         placeholders differ from N, or naming the shapes when T or D disagree.
Matrix merge_multimodal_embeddings(const Matrix& text, const std::vector<std::int64_t>& ids, std::int64_t placeholder,
                                   const Matrix& features);

/// The merge on every rank (text[r], features[r]): local, no communication.
PerRank<Matrix> merge_multimodal_embeddings(const PerRank<Matrix>& text, const std::vector<std::int64_t>& ids,
                                            std::int64_t placeholder, const PerRank<Matrix>& features);

}  // namespace atp::sim
