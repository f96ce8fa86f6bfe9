/// \file chapter_registry.cpp
/// \brief The table of chapters with a GPU half (see chapter_registry.hpp).
#include "atp/sim/chapter_registry.hpp"

#include <stdexcept>

namespace atp::sim {

const std::vector<ChapterSpec>& chapter_specs() {
  static const std::vector<ChapterSpec> specs = {
      // Chapter 0 runs on one GPU; its summation experiments are host arithmetic.
      {0, "00-numbers-that-match", false, {{"n", 1000}}, {1, 2, 4}, {"sums", "rank_partial_sums"},
       {"--samples", "1024"}},
      {1, "01-ranks-and-collectives", true, {{"rows", 2}, {"cols", 8}}, {1, 2, 4}, {}, {}},
      {2, "02-column-parallel-linear", true, {{"tokens", 4}, {"in", 12}, {"out", 24}}, {1, 2, 4}, {}, {}},
      {3, "03-row-parallel-linear", true, {{"tokens", 4}, {"in", 24}, {"out", 8}}, {1, 2, 4}, {}, {}},
      // The dense fp32 MLP is a host-side comparison in chapter 4's dump.
      {4, "04-parallel-mlp", true,
       {{"tokens", 4}, {"hidden", 24}, {"intermediate", 96}, {"mlp", "gelu"}, {"gelu", "tanh"}}, {1, 2, 4},
       {"dense_intermediate", "dense_output"}, {}},
      {5, "05-parallel-attention", true,
       {{"tokens", 6}, {"hidden", 192}, {"heads", 24}, {"kv_heads", 12}, {"causal", 1}}, {1, 2, 4}, {}, {}},
      // Token ids are int64 (the GPU worker reads the same ids); the dense lookup is the host's reference.
      {6, "06-vocab-parallel-embedding", true,
       {{"vocab", 150}, {"hidden", 8}, {"tokens", 6}, {"logits", "all-gather"}, {"lm-head", "tied"}}, {1, 2, 4},
       {"ids", "embeddings_dense"}, {}},
      // The real checkpoint (the binaries' default --checkpoint), a short prompt, a few greedy steps.
      {7, "07-tensor-parallel-decoder", true, {{"steps", 4}, {"prompt_ids", "1,84,104,101,32"}}, {1, 2, 4}, {}, {}},
      // The dense encoder is the host's reference; the GPU runs the three strategies.
      {8, "08-vision-encoder", true,
       {{"images", "32x32,16x24,8x8,24x16,16x16,8x16"}, {"hidden", 48}, {"heads", 8}, {"intermediate", 192},
        {"layers", 2}, {"patch", 4}, {"max_grid", 8}, {"class_token", 1}, {"patch_bias", 0}, {"strategy", "all"}},
       {1, 2, 4}, {"features_dense"}, {}},
      // The real language model under a seeded ViT and LLaVA's projector: three strategies, a few greedy steps.
      {9, "09-vision-language-model", true,
       {{"images", "16x16,8x16,16x8"}, {"projector", "llava"}, {"steps", 4}, {"strategy", "all"}}, {1, 2, 4}, {}, {}},
      // The tree order at every tp it admits; the dense tree-ordered MLP is the host's reference. With
      // decoder_steps, chapter 7's checkpoint in the tree order too (chapter 7's --invariant).
      {11, "11-bit-invariant-tp", true,
       {{"tokens", 8}, {"hidden", 96}, {"intermediate", 192}, {"heads", 24}, {"kv_heads", 24}, {"vocab", 200},
        {"segments", 8}, {"decoder_steps", 4}},
       {1, 2, 4, 8}, {"dense_tree_swiglu_output"}, {}},
      {12, "12-sequence-parallelism", true,
       {{"tokens", 24}, {"hidden", 96}, {"intermediate", 192}, {"heads", 24}, {"kv_heads", 24}, {"layers", 2},
        {"order", "rank-order"}},
       {1, 2, 4, 8}, {}, {}},
  };
  return specs;
}

const ChapterSpec& chapter_spec(int number) {
  std::string valid;
  for (const auto& s : chapter_specs()) {
    if (s.number == number) return s;
    valid += (valid.empty() ? "" : ", ") + std::to_string(s.number);
  }
  throw std::invalid_argument("chapter " + std::to_string(number) + " has no GPU half; chapters with one: " + valid);
}

std::string chapter_binary_name(const ChapterSpec& spec) {
  // "01-ranks-and-collectives" -> "atp-ch01-ranks-and-collectives"
  return "atp-ch" + spec.folder;
}

}  // namespace atp::sim
