/// \file compute.hpp
/// \brief Local per-rank compute that leaves a trace: matmul flop records and a traced linear layer.
///
/// Chapter code calls `sim::linear(world, r, x[r], W[r], bias, "mlp.up")`
/// where a single-device program would call `atp::linear(x, W, bias)`: the
/// numbers are the same (atp::linear's canonical fma order), and the trace
/// learns that rank r did 2*M*N*K flops. Leaves out: flops of elementwise
/// work (norms, activations, the bias add), which are small next to matmuls
/// and are not what the cost model's roofline needs.
#pragma once

#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <string>

namespace atp::sim {

/// Op name of matmul events in the trace.
inline constexpr const char* kMatmulOp = "matmul";

/// Records that `rank` multiplied (M, K) by (K, N): 2*M*N*K flops, shape_in
/// {M, K}, shape_out {M, N}, no bytes. Throws std::invalid_argument for a bad
/// rank, a negative size, or a flop count that does not fit in int64.
void record_matmul(World& world, int rank, std::int64_t M, std::int64_t N, std::int64_t K, const std::string& label);

/// y = x W^T (+ bias) on `rank` through atp::linear, recorded as a matmul.
/// x: (M, K), W: (N, K) as in nn.Linear, bias: (1, N) or nullptr; y: (M, N).
Matrix linear(World& world, int rank, const Matrix& x, const Matrix& W, const Matrix* bias, const std::string& label);

/// linear() on every rank r with x[r], W[r] and, if `bias` is given, (*bias)[r].
PerRank<Matrix> linear(World& world, const PerRank<Matrix>& x, const PerRank<Matrix>& W, const PerRank<Matrix>* bias,
                       const std::string& label);

}  // namespace atp::sim
