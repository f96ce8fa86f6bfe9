/// \file encoder_strategies.hpp
/// \brief Three ways to run a vision encoder on p ranks (chapter 8): A "one
///        rank" (rank 0 encodes, then broadcasts), B "weights" (every layer
///        sharded, chapters 4-5), C "data" (whole weights on every rank, whole
///        images split across ranks, outputs all-gathered: vLLM's
///        mm_encoder_tp_mode="data").
///
/// Legend: B = images, R = sum of the images' output rows, H = hidden,
/// p = ranks, R_r = rows of rank r's own images under C, L = max_r R_r.
///
///   A one-rank  rank 0: whole encoder on all images (R, H); ranks 1..p-1 idle
///               broadcast from rank 0                              -> (R, H) on every rank
///   B weights   every rank: the sharded encoder on all images; 2 all-reduces
///               of (R, H) per block                                -> (R, H) on every rank
///   C data      assign_images(): largest image first to the least-loaded rank;
///               rank r: whole encoder on its images (R_r, H), zero-padded to (L, H);
///               all-gather (p L, H); drop the padding, put images back in order
///                                                                  -> (R, H) on every rank
///
/// Bits: A and C run the p = 1 encoder, in which no dot product is split and
/// each image attends only to itself, so every image's rows equal the dense
/// encoder's bit for bit wherever and with whichever other images it was
/// encoded; the broadcast and the all-gather move bits. B splits the dot
/// products of Wo and fc2 over the ranks and the all-reduce adds the pieces in
/// another order: close to the dense encoder, not equal.
///
/// C and the rank with nothing to do: every rank computes the same assignment
/// from the same image sizes, so every rank knows L, and a rank without images
/// still calls the all-gather with L rows of padding. It must: a collective
/// completes only when every rank has joined it. Each strategy records the
/// collectives every rank issues (EncodedImages::plans) and C checks its plan
/// before running (collective_plan.hpp); DataParallelOptions can reproduce
/// the serving hang of a collective left inside the data-parallel encoder.
///
/// Heads not divisible by p: B cannot split the heads; vLLM then falls back
/// to data parallelism for the vision encoder (is_vit_use_data_parallel in
/// vllm/model_executor/models/vision.py logs "Falling back to data
/// parallelism"); choose_encoder_strategy() does the same and says why.
/// Leaves out: overlapping the encoder with the decoder, caching encoder
/// outputs, vLLM's simpler equal-size path (run_dp_sharded_vision_model pads
/// the batch to a multiple of p with blank images and encodes them too).
#pragma once

#include "atp/sim/collective_plan.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/vision/image_assignment.hpp"
#include "atp/sim/vision/vision_transformer.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"
#include "atp/vit_image.hpp"

#include <string>
#include <vector>

namespace atp::sim {

/// How the encoder runs on p ranks.
enum class EncoderStrategy {
  OneRank,  ///< A: rank 0 encodes everything, then broadcasts
  Weights,  ///< B: every layer sharded across the ranks (vLLM's mm_encoder_tp_mode="weights")
  Data      ///< C: whole images across ranks, whole weights on each (mm_encoder_tp_mode="data")
};

/// "one-rank", "weights" or "data".
const char* to_string(EncoderStrategy strategy);
/// "A", "B" or "C", the chapter's letters.
const char* strategy_letter(EncoderStrategy strategy);
/// Parses to_string() names or the letters a, b, c (either case).
/// \throws std::invalid_argument naming the text and the valid spellings.
EncoderStrategy parse_encoder_strategy(const std::string& text);

/// Why strategy B cannot split `config` across p ranks ("" when it can):
/// heads or intermediate size not divisible by p.
std::string weights_strategy_obstacle(const VitConfig& config, int p);

/// The strategy asked for and the one that runs.
struct StrategyChoice {
  EncoderStrategy requested = EncoderStrategy::Weights;  ///< what the caller asked for
  EncoderStrategy used = EncoderStrategy::Weights;       ///< what runs
  std::string message;  ///< why they differ ("" when they do not)
};

/// `requested`, or Data with a message when it is Weights and
/// weights_strategy_obstacle() is not empty (vLLM's fallback).
StrategyChoice choose_encoder_strategy(EncoderStrategy requested, const VitConfig& config, int p);

/// What an encoder strategy produced, on every rank.
struct EncodedImages {
  EncoderStrategy strategy = EncoderStrategy::OneRank;  ///< which strategy ran
  PerRank<Matrix> features;                  ///< (R, H) on every rank, images in their original order
  std::vector<Eigen::Index> rows_per_image;  ///< rows of each image in `features`
  ImageAssignment assignment;                ///< C: who encoded which image (A: everything on rank 0)
  PerRank<Matrix> local;                     ///< A: rank 0's output, others (0, 0); C: (R_r, H) per rank
  PerRank<Matrix> padded;                    ///< C: (L, H) per rank, what enters the all-gather
  PerRank<Matrix> gathered;                  ///< C: (p L, H) per rank, what the all-gather returns
  std::vector<CollectivePlan> plans;         ///< per rank: the collectives it issued, in order
};

/// A: `whole` (a p = 1 encoder) on rank 0 for every image, then a broadcast
/// (label + ".broadcast"). Rank 0's compute is credited to it in world's trace.
/// \throws std::invalid_argument unless whole.p() == 1.
EncodedImages encode_one_rank(World& world, const ParallelVisionTransformer& whole, const std::vector<Image>& images,
                              const std::string& label);

/// B: the encoder split across the world's p ranks (sharded.p() == world.size()).
EncodedImages encode_weights(World& world, const ParallelVisionTransformer& sharded, const std::vector<Image>& images,
                             const std::string& label);

/// Options of the data-parallel strategy.
struct DataParallelOptions {
  /// Reproduces the SGLang bug (collective_plan.hpp): the position embedding
  /// left vocab-parallel on the shared world, so every rank WITH images would
  /// issue an all-reduce (label + ".pos_embed") before the all-gather. With a
  /// rank that has no image, the plan check throws CollectiveMismatch.
  bool tp_position_embedding = false;
};

/// C's row bookkeeping, shared by the simulator and the GPU ranks (every rank
/// computes it for every rank from the image sizes alone).
struct DataParallelLayout {
  ImageAssignment assignment;               ///< assign_images() on the patch counts
  std::vector<Eigen::Index> rows_of_rank;   ///< R_r: rows of rank r's own images
  Eigen::Index padded_rows = 0;             ///< L = max_r R_r, the rows every rank sends
  std::vector<Eigen::Index> gathered_row;   ///< per image: its first row in the gathered (p L, H) matrix
  std::vector<Eigen::Index> output_row;     ///< per image: its first row in the output, original order
};

/// The layout of C for `images` on p ranks (patch counts from config's patch size).
/// \throws std::invalid_argument as check_vit_images().
DataParallelLayout data_parallel_layout(const VitConfig& config, const std::vector<Image>& images, int p);

/// The collectives every rank issues under C: one all-gather (label + ".gather")
/// each, none at all when L = 0, and with options.tp_position_embedding an
/// all-reduce (label + ".pos_embed") first on the ranks that have images.
std::vector<CollectivePlan> data_parallel_plans(const DataParallelLayout& layout, const std::string& label,
                                                DataParallelOptions options = {});

/// C: assign_images() by patch count; rank r runs `whole` (p = 1) on its
/// images (credited to r), pads to L rows of zeros, one all-gather along rows
/// (label + ".gather"), padding dropped and images restored to their order.
/// No images at all: every rank skips the all-gather (they all know R = 0).
/// \throws std::invalid_argument unless whole.p() == 1; CollectiveMismatch (a
///         std::runtime_error) when the ranks' plans differ.
EncodedImages encode_data(World& world, const ParallelVisionTransformer& whole, const std::vector<Image>& images,
                          const std::string& label, DataParallelOptions options = {});

/// Builds the encoder `strategy` needs from the masters (p = 1 for A and C,
/// world.size() for B) and runs it: the one entry point chapters 8 and 9 use.
/// \throws std::invalid_argument as the strategy's function, or naming
///         weights_strategy_obstacle() when B cannot split the encoder.
EncodedImages encode_images(World& world, EncoderStrategy strategy, const VitConfig& config, const VitWeights& weights,
                            const std::vector<Image>& images, const std::string& label,
                            ReduceOrder order = ReduceOrder::RankOrder);

}  // namespace atp::sim
