/// \file linear_problem.hpp
/// \brief The inputs of one linear layer y = x W^T + b, made the same way by
/// every binary that runs it (CPU chapter, GPU worker, tests).
///
/// x comes from stream 0 of the counter generator, W from stream 1 and b from
/// stream 2; W and b are scaled by 1/3 (not a power of two) so that products
/// and sums round, which a wrong order would then show. Leaves out: sharding
/// (the layers slice the master themselves).
#pragma once

#include "atp/rng.hpp"
#include "atp/tensor.hpp"

#include <cstdint>

namespace atp {

/// x (T, in), W (out, in), b (1, out).
struct LinearProblem {
  Matrix x;  ///< (T, in), stream 0
  Matrix W;  ///< (out, in), stream 1, times 1/3
  Matrix b;  ///< (1, out), stream 2, times 1/3
};

/// The linear layer's inputs for T = tokens, in, out and seed.
inline LinearProblem make_linear_problem(Eigen::Index tokens, Eigen::Index in, Eigen::Index out, std::uint64_t seed) {
  return {random_matrix(tokens, in, seed, 0), random_matrix(out, in, seed, 1, 1.0f / 3.0f),
          random_matrix(1, out, seed, 2, 1.0f / 3.0f)};
}

}  // namespace atp
