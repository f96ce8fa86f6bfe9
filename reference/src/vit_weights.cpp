/// \file vit_weights.cpp
/// \brief VitConfig checks and the seeded master weights of the vision transformer.
#include "atp/vit_weights.hpp"

#include "atp/rng.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace atp {
namespace {

std::string str(long long v) { return std::to_string(v); }

Matrix norm_gamma(Eigen::Index H, std::uint64_t seed, std::uint64_t stream) {
  Matrix g = random_matrix(1, H, seed, stream, 0.1f);
  for (Eigen::Index j = 0; j < H; ++j) g(0, j) = 1.0f + g(0, j);
  return g;
}

float inv_sqrt(Eigen::Index n) { return 1.0f / std::sqrt(static_cast<float>(n)); }

}  // namespace

void VitConfig::validate() const {
  const struct { const char* name; int value; } sizes[] = {{"channels", channels}, {"patch", patch},
                                                           {"hidden", hidden},     {"heads", heads},
                                                           {"intermediate", intermediate}, {"layers", layers},
                                                           {"max_grid", max_grid}};
  for (const auto& s : sizes)
    if (s.value < 1)
      throw std::invalid_argument(std::string("ViT config: ") + s.name + " " + str(s.value) + " must be >= 1");
  if (hidden % heads != 0) {
    std::string valid;
    for (int k = 1; k <= hidden; ++k)
      if (hidden % k == 0) valid += (valid.empty() ? "" : ", ") + str(k);
    throw std::invalid_argument("ViT config: hidden " + str(hidden) + " is not divisible by heads " + str(heads) +
                                " (head_dim = hidden / heads); valid heads for hidden " + str(hidden) + ": " + valid);
  }
  if (!(eps >= 0.0f)) throw std::invalid_argument("ViT config: eps " + std::to_string(eps) + " must be >= 0");
}

std::string VitConfig::describe() const {
  return "C=" + str(channels) + " P=" + str(patch) + " H=" + str(hidden) + " nH=" + str(heads) +
         " I=" + str(intermediate) + " L=" + str(layers) + " G=" + str(max_grid) +
         (class_token ? " cls" : " no-cls") + (patch_bias ? " patch-bias" : "") + " gelu=" + gelu_form_name(gelu);
}

VitWeights random_vit_weights(const VitConfig& config, std::uint64_t seed) {
  config.validate();
  const Eigen::Index H = config.hidden, I = config.intermediate, D = config.patch_dim();
  VitWeights w;
  w.W_patch = random_matrix(H, D, seed, 8000, inv_sqrt(D));
  if (config.patch_bias) w.b_patch = random_matrix(1, H, seed, 8001, 1.0f / 3.0f);
  if (config.class_token) w.cls = random_matrix(1, H, seed, 8002, 1.0f);
  w.pos = random_matrix(config.positions(), H, seed, 8003, 0.5f);
  w.post_gamma = norm_gamma(H, seed, 8004);
  w.post_beta = random_matrix(1, H, seed, 8005, 0.1f);
  for (int l = 0; l < config.layers; ++l) {
    const std::uint64_t base = 8100 + 20 * static_cast<std::uint64_t>(l);
    VitBlockWeights b;
    b.ln1_gamma = norm_gamma(H, seed, base + 0);
    b.ln1_beta = random_matrix(1, H, seed, base + 1, 0.1f);
    b.attn = random_attention_weights(H, config.heads, config.heads, config.head_dim(), seed, true, base + 2);
    b.ln2_gamma = norm_gamma(H, seed, base + 10);
    b.ln2_beta = random_matrix(1, H, seed, base + 11, 0.1f);
    b.W_fc1 = random_matrix(I, H, seed, base + 12, 3.0f * inv_sqrt(H));
    b.b_fc1 = random_matrix(1, I, seed, base + 13, 1.0f / 3.0f);
    b.W_fc2 = random_matrix(H, I, seed, base + 14, inv_sqrt(I));
    b.b_fc2 = random_matrix(1, H, seed, base + 15, 1.0f / 3.0f);
    w.blocks.push_back(std::move(b));
  }
  return w;
}

}  // namespace atp
