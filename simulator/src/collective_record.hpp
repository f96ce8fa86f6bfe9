/// \file collective_record.hpp
/// \brief Internal to the simulator's collectives: the argument checks every
///        collective shares and the one trace event per rank it records.
///
/// Used by collectives.cpp (chapter 1's forms) and tree_collectives.cpp
/// (chapter 11's tree order). Not installed with the public headers.
#pragma once

#include "atp/sim/narrate.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace atp::sim::detail {

/// Bytes of one fp32 element.
inline constexpr std::int64_t kFloatBytes = static_cast<std::int64_t>(sizeof(float));

/// What one rank did in one call.
struct RankCost {
  std::int64_t sent = 0;      ///< bytes put on the wire
  std::int64_t received = 0;  ///< bytes taken off the wire
  std::int64_t flops = 0;     ///< additions (or comparisons) performed
};

/// "op 'label'", how every message names the call.
inline std::string where(const char* op, const std::string& label) { return std::string(op) + " '" + label + "'"; }

/// rows * cols of m.
inline std::int64_t elements(const Matrix& m) { return static_cast<std::int64_t>(m.rows()) * m.cols(); }

/// Throws unless `in` holds one matrix per rank of `world`.
inline void check_rank_count(const World& world, const PerRank<Matrix>& in, const char* op, const std::string& label) {
  if (in.size() != world.size())
    throw std::invalid_argument(where(op, label) + ": got matrices for " + std::to_string(in.size()) +
                                " ranks but the world has p = " + std::to_string(world.size()) +
                                " ranks; pass exactly one matrix per rank");
}

/// Throws naming the rank unless every rank's matrix has rank 0's shape.
inline void check_same_shapes(const PerRank<Matrix>& in, const char* op, const std::string& label) {
  for (int r = 1; r < in.size(); ++r)
    if (in[r].rows() != in[0].rows() || in[r].cols() != in[0].cols())
      throw std::invalid_argument(where(op, label) + ": rank " + std::to_string(r) + " holds " + shape_string(in[r]) +
                                  " but rank 0 holds " + shape_string(in[0]) +
                                  "; every rank must pass the same shape");
}

/// One event per rank, all under one call id.
inline void record(World& world, const char* op, const std::string& label, const PerRank<Matrix>& in,
                   const PerRank<Matrix>& out, const std::vector<RankCost>& cost) {
  const std::int64_t call = world.trace().begin_call();
  for (int r = 0; r < world.size(); ++r) {
    TraceEvent e;
    e.op = op;
    e.label = label;
    e.rank = r;
    e.call = call;
    e.shape_in = {in[r].rows(), in[r].cols()};
    e.shape_out = {out[r].rows(), out[r].cols()};
    e.bytes_sent = cost[static_cast<std::size_t>(r)].sent;
    e.bytes_received = cost[static_cast<std::size_t>(r)].received;
    e.flops = cost[static_cast<std::size_t>(r)].flops;
    world.trace().record(std::move(e));
  }
}

/// One narrated line, when the world narrates.
inline void say(World& world, const std::string& line) {
  if (Narrator* n = world.narrator()) n->text(line);
}

}  // namespace atp::sim::detail
