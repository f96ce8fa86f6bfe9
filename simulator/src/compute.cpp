/// \file compute.cpp
/// \brief Traced local compute: matmul flop records and the per-rank linear layer.
#include "atp/sim/compute.hpp"

#include "atp/matmul_cpu.hpp"

#include <stdexcept>
#include <utility>

namespace atp::sim {

void record_matmul(World& world, int rank, std::int64_t M, std::int64_t N, std::int64_t K, const std::string& label) {
  world.check_rank(rank, "record_matmul '" + label + "'");
  if (M < 0 || N < 0 || K < 0)
    throw std::invalid_argument("record_matmul '" + label + "': M = " + std::to_string(M) + ", N = " +
                                std::to_string(N) + ", K = " + std::to_string(K) + "; sizes must be >= 0");
  TraceEvent e;
  e.op = kMatmulOp;
  e.label = label;
  e.rank = rank;
  e.call = world.trace().begin_call();
  e.shape_in = {M, K};
  e.shape_out = {M, N};
  // 2*M*N*K in int64 overflows for sizes a command line can ask for (M = N = K = 2^21): refuse, never wrap.
  std::int64_t flops = 0;
  if (__builtin_mul_overflow(M, N, &flops) || __builtin_mul_overflow(flops, K, &flops) ||
      __builtin_mul_overflow(flops, std::int64_t{2}, &flops))
    throw std::invalid_argument("record_matmul '" + label + "': 2*M*N*K flops with M = " + std::to_string(M) +
                                ", N = " + std::to_string(N) + ", K = " + std::to_string(K) +
                                " do not fit in 64 bits (at most 9223372036854775807)");
  e.flops = flops;
  world.trace().record(std::move(e));
}

Matrix linear(World& world, int rank, const Matrix& x, const Matrix& W, const Matrix* bias, const std::string& label) {
  world.check_rank(rank, "linear '" + label + "'");
  Matrix y = atp::linear(x, W, bias);  // validates the shapes
  record_matmul(world, rank, x.rows(), W.rows(), x.cols(), label);
  return y;
}

PerRank<Matrix> linear(World& world, const PerRank<Matrix>& x, const PerRank<Matrix>& W, const PerRank<Matrix>* bias,
                       const std::string& label) {
  const int p = world.size();
  if (x.size() != p || W.size() != p || (bias != nullptr && bias->size() != p))
    throw std::invalid_argument("linear '" + label + "': x, W and bias must each hold one matrix per rank (p = " +
                                std::to_string(p) + "); got x for " + std::to_string(x.size()) + ", W for " +
                                std::to_string(W.size()) + (bias ? ", bias for " + std::to_string(bias->size()) : "") +
                                " ranks");
  return make_per_rank(p, [&](int r) {
    return linear(world, r, x[r], W[r], bias != nullptr ? &(*bias)[r] : nullptr, label);
  });
}

}  // namespace atp::sim
