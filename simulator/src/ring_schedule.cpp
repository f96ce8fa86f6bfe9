/// \file ring_schedule.cpp
/// \brief The step list of NCCL's ring all-reduce (see ring_schedule.hpp for the order).
#include "atp/sim/ring_schedule.hpp"

#include "atp/sim/memory_budget.hpp"

#include <algorithm>
#include <stdexcept>

namespace atp::sim {

const char* phase_name(RingPhase phase) {
  return phase == RingPhase::ReduceScatter ? "reduce-scatter" : "all-gather";
}

std::int64_t ring_chunk_size(int p, std::int64_t n) {
  if (p < 1) throw std::invalid_argument("ring_chunk_size: p = " + std::to_string(p) + "; p must be >= 1");
  if (n < 0) throw std::invalid_argument("ring_chunk_size: n = " + std::to_string(n) + "; n must be >= 0");
  return (n + p - 1) / p;
}

std::int64_t ring_step_count(int p) {
  if (p < 1) throw std::invalid_argument("ring_step_count: p = " + std::to_string(p) + "; p must be >= 1");
  return 2 * (static_cast<std::int64_t>(p) - 1) * p;
}

RingChunk ring_chunk(int p, std::int64_t n, int c) {
  const std::int64_t size = ring_chunk_size(p, n);
  if (c < 0 || c >= p)
    throw std::invalid_argument("ring_chunk: chunk " + std::to_string(c) + " out of range; valid chunks are 0.." +
                                std::to_string(p - 1));
  // Clamped at n on both ends, so trailing chunks of a short buffer are empty, never negative.
  return {std::min(n, c * size), std::min(n, (c + 1) * size)};
}

std::vector<RingStep> ring_schedule(int p, std::int64_t n) {
  ring_chunk_size(p, n);  // validates p and n
  // 2 (p-1) p steps, counted in 64 bits: in int it overflows above p = 32768.
  const std::int64_t count = ring_step_count(p);
  MemoryEstimate need;
  need.add("the ring schedule (" + std::to_string(count) + " steps)", {count},
           1, static_cast<std::int64_t>(sizeof(RingStep)));
  require_memory(need, "ring_schedule(p = " + std::to_string(p) + ")");
  std::vector<RingStep> steps;
  steps.reserve(static_cast<std::size_t>(count));
  auto mod = [p](int v) { return ((v % p) + p) % p; };
  for (RingPhase phase : {RingPhase::ReduceScatter, RingPhase::AllGather}) {
    for (int s = 0; s + 1 < p; ++s) {
      for (int src = 0; src < p; ++src) {
        // NCCL runRing: reduce-scatter step s sends chunk ringIx - s - 1,
        // all-gather step s forwards chunk ringIx - s (its own finished chunk at s = 0).
        const int chunk = phase == RingPhase::ReduceScatter ? mod(src - s - 1) : mod(src - s);
        const RingChunk range = ring_chunk(p, n, chunk);
        steps.push_back({phase, s, src, mod(src + 1), chunk, range.begin, range.end});
      }
    }
  }
  return steps;
}

std::string describe(const RingStep& step) {
  return std::string(phase_name(step.phase)) + " step " + std::to_string(step.step) + ": rank " +
         std::to_string(step.src) + " -> rank " + std::to_string(step.dst) + " chunk " + std::to_string(step.chunk) +
         " [" + std::to_string(step.begin) + ", " + std::to_string(step.end) + ")";
}

}  // namespace atp::sim
