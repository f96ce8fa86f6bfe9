/// \file dry_collectives.hpp
/// \brief The collectives of collectives.hpp without data: the same trace
///        events (op, label, per-rank shapes, bytes, adds), from shapes alone.
///
/// A "dry" run records what a real run would record, so chapter 10's cost
/// model can price real model sizes (a 7B decoder, a ViT-L encoder) in
/// seconds without allocating a single tensor. Every function here appends
/// exactly the events its namesake in collectives.hpp appends for inputs of
/// these shapes; tests/test_dry_plans.cpp runs both at small sizes and
/// compares the traces field by field. The byte model is collectives.hpp's
/// (4-byte fp32 elements); the ring all-reduce walks ring_schedule() as the
/// real one does. Leaves out: narration, data, and the argument checks that
/// only data can fail (every rank passing the same shape is given).
#pragma once

#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"

#include <cstdint>
#include <string>

namespace atp::sim::dry {

/// A matrix shape (rows, cols) without the matrix.
struct Shape {
  std::int64_t rows = 0;  ///< first dimension
  std::int64_t cols = 0;  ///< second dimension
  /// rows * cols.
  std::int64_t elements() const { return rows * cols; }
};

/// all_reduce_rank_order() or all_reduce_ring() (by `order`) of one `shape` per rank; returns `shape`.
/// \throws std::invalid_argument for a negative shape.
Shape all_reduce(World& world, ReduceOrder order, Shape shape, const std::string& label);

/// all_gather() of one `shape` per rank along `axis`; returns (p rows, cols) or (rows, p cols).
Shape all_gather(World& world, Shape shape, Axis axis, const std::string& label);

/// reduce_scatter() of one `shape` per rank along `axis`; returns rank r's block.
/// \throws std::invalid_argument (as the real one) unless p divides that dimension.
Shape reduce_scatter(World& world, Shape shape, Axis axis, const std::string& label);

/// broadcast() of root's `shape`; the other ranks pass a (0, 0) receive buffer when
/// `receivers_pass_empty`, else a buffer of `shape`. Returns `shape`. \throws for a bad root.
Shape broadcast(World& world, Shape shape, int root, bool receivers_pass_empty, const std::string& label);

/// gather() of one `shape` per rank to `root` along `axis`; returns the root's shape.
Shape gather(World& world, Shape shape, int root, Axis axis, const std::string& label);

}  // namespace atp::sim::dry
