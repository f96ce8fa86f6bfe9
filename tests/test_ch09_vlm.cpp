/// \file test_ch09_vlm.cpp
/// \brief Chapter 9's whole VLM on the real language model (data/fortune-llama.bin):
///        A and C generate the same ids from the same logit bits at p = 1, 2, 4;
///        B's logits stay within a tolerance of A's; the merged sequence is the
///        same on every rank; the prefill's collectives, phase by phase; the
///        errors (placeholder count, projector width).
///
/// Small requests (two images, 12 image tokens, 6 steps) keep each case to a
/// fraction of a second. Collective counts are derived from the model's shape
/// (L = 5 decoder blocks, 2 ViT blocks), not read back from the code under test.
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/dense_vlm_reference.hpp"
#include "atp/projector_weights.hpp"
#include "atp/sim/checkpoint/checkpoint.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/models/reference_weights.hpp"
#include "atp/sim/models/vision_language_model.hpp"
#include "atp/vit_weights.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

#ifndef ATP_FORTUNE_LLAMA
#error "ATP_FORTUNE_LLAMA must name data/fortune-llama.bin"
#endif

using atp::Matrix;
using namespace atp::sim;
using atp::test::contains;
using atp::test::error_of;
using atp::test::require_bitwise;

namespace {

const Checkpoint& fortune() {
  static const Checkpoint c = Checkpoint::open(ATP_FORTUNE_LLAMA);
  return c;
}

VisionTower tower(ProjectorKind kind) {
  VisionTower t;
  t.encoder.class_token = kind == ProjectorKind::Llava;
  t.encoder_weights = atp::random_vit_weights(t.encoder, 3);
  t.projector = kind;
  t.projector_weights = kind == ProjectorKind::Llava ? atp::random_llava_projector(48, 64, 3)
                                                     : atp::random_patch_merger(48, 64, 2, 3);
  return t;
}

std::vector<atp::Image> images() {
  return {atp::random_image(3, 8, 8, 3, 9000), atp::random_image(3, 8, 16, 3, 9001)};  // 4 and 8 patches
}

std::vector<std::int64_t> prompt(const VisionTower& t) {
  std::int64_t n = 0;
  for (auto k : image_token_counts(t, images())) n += k;
  return vlm_prompt(1, "", n, kImageToken, "A ");
}

/// Collective calls of rank 0 during the prefill, by label prefix and op.
std::map<std::string, std::int64_t> prefill_calls(const World& w, const VlmGeneration& g) {
  std::map<std::string, std::set<std::int64_t>> calls;
  for (std::int64_t i = 0; i < g.trace_prefill_end; ++i) {
    const TraceEvent& e = w.trace().events()[static_cast<std::size_t>(i)];
    if (e.op == kMatmulOp || e.rank != 0) continue;
    const std::string phase = e.label.rfind("vlm.vision.vit", 0) == 0         ? "vit"
                              : e.label.rfind("vlm.vision.projector", 0) == 0 ? "projector"
                              : e.label.rfind("vlm.embed", 0) == 0            ? "embed"
                              : e.label.rfind("vlm.decoder", 0) == 0          ? "decoder"
                                                                               : "lm_head";
    calls[phase + " " + e.op].insert(e.call);
  }
  std::map<std::string, std::int64_t> out;
  for (const auto& [k, v] : calls) out[k] = static_cast<std::int64_t>(v.size());
  return out;
}

}  // namespace

TEST_CASE("the VLM at p = 1, 2, 4: A and C give the same ids and logit bits; B's logits stay close") {
  const VisionTower t = tower(ProjectorKind::Llava);
  for (int p : {1, 2, 4}) {
    INFO("p = " << p);
    const ParallelDecoder decoder = ParallelDecoder::load(fortune(), p);
    World wa(p), wb(p), wc(p);
    const VlmGeneration a = vlm_generate(wa, decoder, t, EncoderStrategy::OneRank, images(), prompt(t), kImageToken, 6);
    const VlmGeneration b = vlm_generate(wb, decoder, t, EncoderStrategy::Weights, images(), prompt(t), kImageToken, 6);
    const VlmGeneration c = vlm_generate(wc, decoder, t, EncoderStrategy::Data, images(), prompt(t), kImageToken, 6);
    CHECK(c.generated == a.generated);
    for (std::size_t s = 0; s < a.logits.size(); ++s) require_bitwise(c.logits[s], a.logits[s], "step logits");
    for (int r = 0; r < p; ++r) {
      require_bitwise(c.merged[r], a.merged[0], "merged sequence, rank " + std::to_string(r));
      require_bitwise(b.merged[r], b.merged[0], "B's merged sequence is the same on every rank");
    }
    // B's encoder rounds differently (chapter 8): its logits move by a little, here far below the
    // gaps between the top logits, so the same ids come out.
    for (std::size_t s = 0; s < a.logits.size(); ++s)
      CHECK(static_cast<double>((b.logits[s] - a.logits[s]).cwiseAbs().maxCoeff()) < 1e-3);
    if (p > 1) CHECK_FALSE(atp::compare_bitwise(b.vision.features[0], a.vision.features[0]).equal());
    CHECK(b.generated == a.generated);
  }
}

TEST_CASE("A, B and C at p = 1, 2, 4 generate the ids of the unsharded model and of the float64 dense VLM") {
  // The float64 VLM (reference/: its own ViT, projector, merge and decoder) is written apart from the
  // simulator; its ids are the dense answer, its logits the yardstick for the fp32 ones.
  for (ProjectorKind kind : {ProjectorKind::Llava, ProjectorKind::PatchMerger}) {
    const VisionTower t = tower(kind);
    INFO("projector " << to_string(kind));
    const atp::MatrixD features = atp::vlm_features_ref(t.encoder, t.encoder_weights, t.projector_weights, images(),
                                                        kind == ProjectorKind::Llava ? 0 : t.merge, t.merger_eps);
    std::vector<atp::MatrixD> ref_logits;
    const std::vector<int> ref = atp::vlm_generate_ref(reference_weights(fortune()), prompt(t), kImageToken,
                                                       features, 6, &ref_logits);
    const std::vector<std::int64_t> ref_ids(ref.begin(), ref.end());
    World w1(1);
    const VlmGeneration unsharded = vlm_generate(w1, ParallelDecoder::load(fortune(), 1), t, EncoderStrategy::OneRank,
                                                 images(), prompt(t), kImageToken, 6);
    CHECK(unsharded.generated == ref_ids);
    for (int p : {1, 2, 4}) {
      const ParallelDecoder decoder = ParallelDecoder::load(fortune(), p);
      for (EncoderStrategy s : {EncoderStrategy::OneRank, EncoderStrategy::Weights, EncoderStrategy::Data}) {
        INFO("p = " << p << ", strategy " << to_string(s));
        World w(p);
        const VlmGeneration g = vlm_generate(w, decoder, t, s, images(), prompt(t), kImageToken, 6);
        CHECK(g.generated == ref_ids);
        for (std::size_t k = 0; k < g.logits.size(); ++k)
          CHECK((g.logits[k].cast<double>() - ref_logits[k]).cwiseAbs().maxCoeff() < 1e-4);
      }
    }
  }
}

TEST_CASE("the prefill's collectives: the encoder strategy's, one for the projector, 1 + 2L for the decoder") {
  const VisionTower t = tower(ProjectorKind::Llava);
  const ParallelDecoder decoder = ParallelDecoder::load(fortune(), 2);
  World wa(2), wb(2), wc(2);
  const auto a = prefill_calls(wa, vlm_generate(wa, decoder, t, EncoderStrategy::OneRank, images(), prompt(t), kImageToken, 2));
  const auto b = prefill_calls(wb, vlm_generate(wb, decoder, t, EncoderStrategy::Weights, images(), prompt(t), kImageToken, 2));
  const auto c = prefill_calls(wc, vlm_generate(wc, decoder, t, EncoderStrategy::Data, images(), prompt(t), kImageToken, 2));
  CHECK(a.at("vit broadcast") == 1);
  CHECK(b.at("vit all_reduce_rank_order") == 2 * t.encoder.layers);
  CHECK(c.at("vit all_gather") == 1);
  for (const auto* m : {&a, &b, &c}) {
    CHECK(m->at("projector all_reduce_rank_order") == 1);
    CHECK(m->at("embed all_reduce_rank_order") == 1);
    CHECK(m->at("decoder all_reduce_rank_order") == 2 * 5);  // fortune-llama: 5 blocks
    CHECK(m->at("lm_head all_gather") == 1);
  }
}

TEST_CASE("the patch merger VLM: A and C agree bit for bit; 3 images' 2x2 blocks become 3 tokens") {
  const VisionTower t = tower(ProjectorKind::PatchMerger);
  CHECK(image_token_counts(t, images()) == std::vector<Eigen::Index>{1, 2});
  const ParallelDecoder decoder = ParallelDecoder::load(fortune(), 4);
  World wa(4), wc(4);
  const VlmGeneration a = vlm_generate(wa, decoder, t, EncoderStrategy::OneRank, images(), prompt(t), kImageToken, 4);
  const VlmGeneration c = vlm_generate(wc, decoder, t, EncoderStrategy::Data, images(), prompt(t), kImageToken, 4);
  CHECK(c.generated == a.generated);
  require_bitwise(c.logits.back(), a.logits.back(), "last step's logits");
}

TEST_CASE("the VLM refuses a placeholder count that is not the image token count, and a projector of the wrong width") {
  const VisionTower t = tower(ProjectorKind::Llava);
  const ParallelDecoder decoder = ParallelDecoder::load(fortune(), 1);
  std::vector<std::int64_t> ids = prompt(t);
  ids.erase(ids.begin() + 1);  // one placeholder fewer
  World w(1);
  CHECK(contains(error_of([&] { vlm_generate(w, decoder, t, EncoderStrategy::Data, images(), ids, kImageToken, 1); }),
                 "the prompt has 11 image placeholder tokens (id 0) but the images give 12 feature rows"));
  VisionTower narrow = t;
  narrow.projector_weights = atp::random_llava_projector(48, 32, 3);
  CHECK(contains(error_of([&] {
          vlm_generate(w, decoder, narrow, EncoderStrategy::Data, images(), prompt(t), kImageToken, 1);
        }),
        "the projector maps into width 32 but the decoder's hidden size is 64"));
}

TEST_CASE("the float64 decoder from embeddings equals it from ids; the float64 VLM refuses a count mismatch") {
  const atp::DecoderWeightsRef w = reference_weights(fortune());
  const std::vector<int> ids = {1, 65, 32, 99};
  atp::MatrixD x(4, w.shape.dim);
  for (int t = 0; t < 4; ++t) x.row(t) = w.tok_embedding.row(ids[static_cast<std::size_t>(t)]);
  atp::DenseDecoderRef a(w), b(w);
  const atp::MatrixD from_ids = a.forward(ids), from_embeddings = b.forward_embeddings(x);
  CHECK(from_ids == from_embeddings);  // the same double arithmetic after the lookup
  CHECK(a.forward({7}) == b.forward({7}));
  CHECK(contains(error_of([&] { atp::DenseDecoderRef(w).forward_embeddings(atp::MatrixD(2, 3)); }),
                 "x is (2, 3); it needs at least one row and D = 64 columns"));
  CHECK(contains(error_of([&] { atp::vlm_generate_ref(w, {1, 0, 0}, 0, atp::MatrixD(1, 64), 1); }),
                 "the prompt has 2 placeholders (id 0) and the features are (1, 64)"));
}
