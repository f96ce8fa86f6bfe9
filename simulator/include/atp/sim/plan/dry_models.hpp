/// \file dry_models.hpp
/// \brief Whole models without data: a decoder's prefill and decode steps, a
///        vision encoder under chapter 8's strategies A/B/C, a projector, and
///        a vision-language model's time to first token, recorded into a
///        World's trace from shapes alone (chapter 10's real-size runs).
///
/// Legend: T = tokens of one forward, S = keys (cache length + T), L = layers,
/// n_i = patches of image i, R = rows the encoder runs (n_i, + 1 per image
/// with a class token), p = ranks.
///
///     decoder step:   embed (T) -> L x [attention (T queries, S keys), MLP] -> LM head on the last row
///     encoder A:      rank 0 runs the whole encoder (a world of one, its matmuls credited to rank 0),
///                     then a broadcast of (R_out, H_out) to every rank
///     encoder B:      every layer sharded over the p ranks: 2 all-reduces of (R, H) per block
///     encoder C:      images to ranks largest first (vLLM's get_load_balance_assignment), each rank
///                     runs the whole encoder on its own images, then one all-gather of (max rows, H_out)
///     VLM prefill:    encoder (A, B or C) -> projector (column, GELU, row) -> decoder step over
///                     text + image tokens
///
/// The sequences mirror chapter 7's ParallelDecoder and chapter 8's encoder
/// strategies (the labels too); tests/test_dry_plans.cpp checks the
/// layer-level twins against the real layers, and the whole-model plans
/// against the real models once those are in the tree. Windowed attention
/// (Qwen2.5-VL's vision tower) is modelled as attention within windows of
/// window x window patches, except in the listed full-attention layers.
/// Leaves out: norms, activations, rotary and residual adds (not in any
/// trace), batching of several requests, KV-cache allocation.
#pragma once

#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/plan/dry_collectives.hpp"
#include "atp/sim/world.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace atp::sim::dry {

/// A decoder's shape.
struct DecoderShape {
  std::string name;              ///< "llama-2-7b"
  bool gated_mlp = true;         ///< SwiGLU (Llama) or GELU (GPT)
  std::int64_t hidden = 0;       ///< H
  std::int64_t intermediate = 0; ///< I (padded up to a multiple of p when p does not divide it, as chapter 7)
  int layers = 0;                ///< L
  int heads = 0;                 ///< nH
  int kv_heads = 0;              ///< nKV
  std::int64_t vocab = 0;        ///< V
};

/// A vision encoder's shape (and, optionally, its patch merger).
struct VisionShape {
  std::string name;                  ///< "clip-vit-l-14-336"
  std::int64_t hidden = 0;           ///< H
  std::int64_t intermediate = 0;     ///< I of the MLP
  int layers = 0;                    ///< blocks that run (LLaVA stops one before CLIP's last)
  int heads = 0;                     ///< nH (nKV = nH)
  int patch = 14;                    ///< pixels per patch side
  int patch_dim = 588;               ///< values in one flattened patch (C P P, or C T P P for video patches)
  bool class_token = false;          ///< one extra row per image
  bool gated_mlp = false;            ///< SwiGLU MLP instead of GELU
  int window = 0;                    ///< attention windows of window x window patches (0: whole image)
  std::vector<int> full_attention_layers;  ///< layers that attend to the whole image when window > 0
  int merge = 1;                     ///< merger: merge x merge patches become one token (1: no merger)
  std::int64_t merger_hidden = 0;    ///< merger MLP width (merge^2 H -> merger_hidden -> merger_out)
  std::int64_t merger_out = 0;       ///< the merger's output width
};

/// An image's size in pixels.
struct ImageSize {
  int height = 0;  ///< pixels
  int width = 0;   ///< pixels
};

/// Patches of one image: (height / patch) x (width / patch).
/// \throws std::invalid_argument naming the image size unless both are positive multiples of the patch
///         (and of patch * merge when the encoder merges).
std::int64_t image_patches(const VisionShape& v, const ImageSize& image);
/// Rows the encoder runs for one image: patches, + 1 with a class token.
std::int64_t encoder_rows(const VisionShape& v, const ImageSize& image);
/// Rows the encoder (with its merger) hands on per image: patches / merge^2 (+ 1 class token without a merger).
std::int64_t output_rows(const VisionShape& v, const ImageSize& image);
/// Width of those rows: merger_out with a merger, else H.
std::int64_t output_width(const VisionShape& v);

/// A projector between encoder and decoder: column-parallel in -> hidden, GELU, row-parallel hidden -> out.
struct ProjectorShape {
  std::string name;           ///< "llava-1.5-mlp2x-gelu"
  std::int64_t in = 0;        ///< the encoder's output width
  std::int64_t hidden = 0;    ///< the MLP's width
  std::int64_t out = 0;       ///< the decoder's hidden size
  bool drop_class_token = true;  ///< LLaVA's "default" feature selection drops each image's class row
};

/// The three encoder strategies of chapter 8.
enum class EncoderStrategy {
  OneRank,  ///< A: rank 0 encodes, then broadcasts
  Weights,  ///< B: weights sharded like chapters 4-5
  Data,     ///< C: whole images across ranks, whole weights on each, all-gather
};
/// "A", "B", "C".
const char* strategy_letter(EncoderStrategy s);
/// Parses A/B/C (either case) or one-rank/weights/data. \throws std::invalid_argument naming the text and the valid spellings.
EncoderStrategy parse_strategy(const std::string& text);

/// "" if strategy B can split `v` over p ranks; otherwise why not (heads or MLP width not divisible by p).
std::string weights_obstacle(const VisionShape& v, int p);

/// One decoder forward of T new tokens after `cached` earlier ones (prefill: cached = 0; decode: T = 1):
/// label.embed, label.block<l>.attn / .mlp, then label.lm_head on the last row.
/// \throws std::invalid_argument (the layers' messages) when p cannot split the model.
void decoder_step(World& world, const DecoderShape& d, std::int64_t T, std::int64_t cached, ReduceOrder order,
                  LogitsCollective logits, const std::string& label);

/// The encoder (p = world.size(): sharded; a world of one: whole) on `images`, merger included:
/// label.patch_embed (replicated), label.block<l>.attn / .mlp, label.merger.
void vision_encoder(World& world, const VisionShape& v, const std::vector<ImageSize>& images, ReduceOrder order,
                    const std::string& label);

/// The encoder under strategy `s` (A: label.encode on rank 0 + label.broadcast; B: label.encode sharded;
/// C: label.encode per rank + label.gather). Returns the (rows, width) every rank then holds.
/// \throws std::invalid_argument for B when weights_obstacle() is not empty (no silent fallback here).
Shape encode_images(World& world, EncoderStrategy s, const VisionShape& v, const std::vector<ImageSize>& images,
                    ReduceOrder order, const std::string& label);

/// The projector on `rows` rows: label.linear_1 (column), label.linear_2 (row) + all-reduce.
Shape projector(World& world, const ProjectorShape& pj, std::int64_t rows, ReduceOrder order, const std::string& label);

/// A vision-language model's prefill up to the first token's logits: encode (strategy s), project
/// (when `pj` is given), then one decoder step over `text_tokens` + the image tokens.
/// Labels: vision.*, projector.*, decoder.*. Returns the decoder's T.
std::int64_t vlm_prefill(World& world, EncoderStrategy s, const VisionShape& v, const ProjectorShape* pj,
                         const DecoderShape& d, const std::vector<ImageSize>& images, std::int64_t text_tokens,
                         ReduceOrder order, LogitsCollective logits);

}  // namespace atp::sim::dry
