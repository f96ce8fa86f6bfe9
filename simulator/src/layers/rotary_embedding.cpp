/// \file rotary_embedding.cpp
/// \brief RotaryEmbedding on the simulator: the cos/sin cache and the per-head rotation.
#include "atp/sim/layers/rotary_embedding.hpp"

#include "atp/sim/narrate.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace atp::sim {
namespace {

std::string str(long long v) { return std::to_string(v); }

}  // namespace

RotaryEmbedding::RotaryEmbedding(int head_dim, int max_positions, float theta, RopeStyle style)
    : head_dim_(head_dim), theta_(theta), style_(style) {
  if (head_dim < 2 || head_dim % 2 != 0)
    throw std::invalid_argument("RotaryEmbedding: head_dim " + str(head_dim) + " must be even and >= 2 (pairs)");
  if (max_positions < 1 || max_positions > (1 << 20))
    throw std::invalid_argument("RotaryEmbedding: max_positions " + str(max_positions) + " must be in [1, 2^20]");
  if (!(theta > 1.0f) || !std::isfinite(theta)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(theta));
    throw std::invalid_argument(std::string("RotaryEmbedding: theta ") + buf + " must be > 1 and finite");
  }
  const int half = head_dim / 2;
  cos_.resize(max_positions, half);
  sin_.resize(max_positions, half);
  for (int pos = 0; pos < max_positions; ++pos)
    for (int i = 0; i < half; ++i) atp::rope_cos_sin(pos, i, head_dim, theta, &cos_(pos, i), &sin_(pos, i));
}

Matrix RotaryEmbedding::apply(const Matrix& x, int first_position) const {
  const int d = head_dim_, half = d / 2;
  if (x.cols() % d != 0)
    throw std::invalid_argument("RotaryEmbedding::apply: x is " + shape_string(x) + "; its columns must be whole heads "
                                "of head_dim " + str(d));
  if (first_position < 0 || first_position + x.rows() > max_positions())
    throw std::invalid_argument("RotaryEmbedding::apply: positions [" + str(first_position) + ", " +
                                str(first_position + x.rows()) + ") are outside the table's [0, " +
                                str(max_positions()) + ") (max_seq_len)");
  Matrix y(x.rows(), x.cols());
  const Eigen::Index heads = x.cols() / d;
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const Eigen::Index pos = first_position + t;
    for (Eigen::Index h = 0; h < heads; ++h)
      for (int i = 0; i < half; ++i) {
        int j0 = 0, j1 = 0;
        atp::rope_pair(style_, i, d, &j0, &j1);
        const Eigen::Index c0 = h * d + j0, c1 = h * d + j1;
        atp::rope_rotate_pair(x(t, c0), x(t, c1), cos_(pos, i), sin_(pos, i), &y(t, c0), &y(t, c1));
      }
  }
  return y;
}

PerRank<Matrix> RotaryEmbedding::forward(World& world, const PerRank<Matrix>& x, int first_position,
                                         const std::string& label) const {
  auto y = make_per_rank(x.size(), [&](int r) -> Matrix { return apply(x[r], first_position); });
  narrate(world, label + ": rotated for positions " + str(first_position) + ".." +
                     str(first_position + (x.size() > 0 ? x[0].rows() : 0) - 1) +
                     ", each rank its own heads (no communication)",
          y);
  return y;
}

void RotaryEmbedding::account_memory(World& world, const std::string& label) const {
  for (int r = 0; r < world.size(); ++r)
    world.memory().hold(r, MemoryKind::Weight, label + ".cos_sin_cache", cache_bytes());
}

}  // namespace atp::sim
