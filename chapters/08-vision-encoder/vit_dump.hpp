/// \file vit_dump.hpp
/// \brief The tensor names chapter 8 dumps, written by the CPU binary and the
/// GPU worker alike, so atp-compare and the notebook find the same names.
///
/// Globals (rank 0 of the GPU run): `image<i>` (C h, w); W_patch, b_patch (if
/// any), cls (if any), pos, post_gamma, post_beta; `block<l>.ln1_gamma`,
/// .ln1_beta, .Wq, .Wk, .Wv, .Wo, .bq, .bk, .bv, .bo, .ln2_gamma, .ln2_beta,
/// .W_fc1, .b_fc1, .W_fc2, .b_fc2. Per strategy s in {one_rank, weights, data}
/// (named by what was asked for; a fallback is recorded in the manifest):
/// `features_<s>.rank<r>` (R, H) on every rank, and for the data strategy also
/// `local_<s>.rank<r>` (R_r, H), `padded_<s>.rank<r>` (L, H), `gathered_<s>.rank<r>`
/// (p L, H). Leaves out: the dense and float64 comparisons (CPU only).
#pragma once

#include "atp/sim/dump.hpp"
#include "atp/sim/vision/encoder_strategies.hpp"
#include "atp/vit_image.hpp"
#include "atp/vit_weights.hpp"

#include <string>
#include <vector>

namespace atp::ch08 {

/// "one_rank", "weights" or "data": the strategy's name in tensor names.
inline std::string dump_name(sim::EncoderStrategy s) {
  std::string n = sim::to_string(s);
  for (char& c : n) c = c == '-' ? '_' : c;
  return n;
}

/// The images and every master weight, as globals.
inline void dump_inputs(sim::Dumper& d, const std::vector<Image>& images, const VitWeights& w) {
  for (std::size_t i = 0; i < images.size(); ++i) d.add("image" + std::to_string(i), images[i].pixels, "input");
  d.add("W_patch", w.W_patch, "weight");
  if (w.b_patch.size() > 0) d.add("b_patch", w.b_patch, "weight");
  if (w.cls.size() > 0) d.add("cls", w.cls, "weight");
  d.add("pos", w.pos, "weight");
  d.add("post_gamma", w.post_gamma, "weight");
  d.add("post_beta", w.post_beta, "weight");
  for (std::size_t l = 0; l < w.blocks.size(); ++l) {
    const VitBlockWeights& b = w.blocks[l];
    const std::string p = "block" + std::to_string(l) + ".";
    const struct { const char* name; const Matrix* m; } all[] = {
        {"ln1_gamma", &b.ln1_gamma}, {"ln1_beta", &b.ln1_beta}, {"Wq", &b.attn.Wq},       {"Wk", &b.attn.Wk},
        {"Wv", &b.attn.Wv},          {"Wo", &b.attn.Wo},        {"bq", &b.attn.bq},       {"bk", &b.attn.bk},
        {"bv", &b.attn.bv},          {"bo", &b.attn.bo},        {"ln2_gamma", &b.ln2_gamma}, {"ln2_beta", &b.ln2_beta},
        {"W_fc1", &b.W_fc1},         {"b_fc1", &b.b_fc1},       {"W_fc2", &b.W_fc2},      {"b_fc2", &b.b_fc2}};
    for (const auto& t : all) d.add(p + t.name, *t.m, "weight");
  }
}

}  // namespace atp::ch08
