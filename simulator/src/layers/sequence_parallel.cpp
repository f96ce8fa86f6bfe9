/// \file sequence_parallel.cpp
/// \brief The sequence-parallel regions' collectives on the simulator (chapter 12).
#include "atp/sim/layers/sequence_parallel.hpp"

#include "atp/sim/collectives.hpp"
#include "atp/sim/layers/tp_divide.hpp"
#include "atp/sim/sharding.hpp"

#include <stdexcept>

namespace atp::sim {

std::int64_t sequence_rows_per_rank(std::int64_t tokens, int p) {
  if (p >= 1 && tokens >= 0 && tokens % p == 0) return tokens / p;
  throw std::invalid_argument("sequence parallelism splits the " + std::to_string(tokens) +
                              " tokens across tp " + std::to_string(p) +
                              ", which does not divide them; valid tp for this sequence: " +
                              (tokens >= 1 ? valid_tp_list(tokens) : std::string("none (no tokens)")) +
                              " (pad the sequence to a multiple of tp, or turn sequence parallelism off)");
}

PerRank<Matrix> scatter_to_sequence_parallel_region(const Matrix& x, int p) {
  const std::int64_t rows = sequence_rows_per_rank(x.rows(), p);
  return make_per_rank(p, [&](int r) -> Matrix { return x.middleRows(r * rows, rows); });
}

PerRank<Matrix> gather_from_sequence_parallel_region(World& world, const PerRank<Matrix>& x,
                                                     const std::string& label) {
  return all_gather(world, x, Axis::Rows, label);
}

PerRank<Matrix> reduce_scatter_to_sequence_parallel_region(World& world, const PerRank<Matrix>& partial,
                                                           ReduceOrder order, const std::string& label) {
  if (partial.size() >= 1) sequence_rows_per_rank(partial[0].rows(), world.size());
  switch (order) {
    case ReduceOrder::RankOrder: return reduce_scatter(world, partial, Axis::Rows, label);
    case ReduceOrder::Tree: return reduce_scatter_tree(world, partial, Axis::Rows, label);
    case ReduceOrder::Ring: break;
  }
  throw std::invalid_argument("reduce_scatter_to_sequence_parallel_region '" + label +
                              "': the ring order has no reduce-scatter form here; use rank-order or tree");
}

}  // namespace atp::sim
