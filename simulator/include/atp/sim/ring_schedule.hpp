/// \file ring_schedule.hpp
/// \brief The ring all-reduce as a list of point-to-point steps, shared by the
///        simulator, the narrator and the CUDA ncclSend/ncclRecv version.
///
/// The buffer of n elements (a matrix flattened row-major) is cut into p
/// contiguous chunks of ceil(n/p) elements; chunk c covers
/// [min(n, c*ceil(n/p)), min(n, (c+1)*ceil(n/p))), so the last chunks may be
/// short or empty when p does not divide n (or n < p).
///
/// Reduce-scatter phase, steps s = 0..p-2: rank r sends its running value of
/// chunk (r - s - 1) mod p to rank (r + 1) mod p, which replaces its own value
/// v by `received + v`. Chunk c therefore starts at rank c+1 and is finished
/// on rank c as
///
///     ((x[c+1] + x[c+2]) + ... + x[c-1]) + x[c]      (ranks mod p)
///
/// All-gather phase, steps s = 0..p-2: rank r sends finished chunk
/// (r - s) mod p to rank r + 1, which copies it.
///
/// This is the order of NCCL's ring all-reduce (`runRing` in
/// src/device/all_reduce.h): at step 0 ring index i sends chunk i-1, the
/// middle steps are `recvReduceSend` of chunk i-j, and chunk i is finished on
/// ring index i. IEEE addition is commutative (a + b and b + a round to the
/// same bits), so only the association above matters, not which operand is
/// "received". Leaves out what real NCCL adds on top: several channels, each
/// with its own slice of the buffer, protocol-dependent chunk sizes and a
/// ring order chosen from the topology. That is why native ncclAllReduce is
/// only compared within a tolerance (NUMERICS.md section 3).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace atp::sim {

/// The two halves of a ring all-reduce.
enum class RingPhase {
  ReduceScatter,  ///< the receiver adds what it gets to its own value
  AllGather       ///< the receiver copies what it gets
};

/// "reduce-scatter" or "all-gather".
const char* phase_name(RingPhase phase);

/// Element range [begin, end) of one chunk of the flattened buffer.
struct RingChunk {
  std::int64_t begin = 0;  ///< first element
  std::int64_t end = 0;    ///< one past the last element (== begin when empty)
};

/// Elements per chunk: ceil(n / p). Throws std::invalid_argument unless p >= 1 and n >= 0.
std::int64_t ring_chunk_size(int p, std::int64_t n);
/// Range of chunk c (0 <= c < p) of n elements split p ways.
RingChunk ring_chunk(int p, std::int64_t n, int c);

/// One point-to-point transfer of the ring: `src` sends elements [begin, end)
/// (chunk `chunk`) to `dst` = (src + 1) mod p during step `step` of `phase`.
struct RingStep {
  RingPhase phase = RingPhase::ReduceScatter;  ///< reduce (add) or gather (copy)
  int step = 0;                                ///< 0..p-2 within the phase
  int src = 0;                                 ///< sending rank
  int dst = 0;                                 ///< receiving rank, src + 1 mod p
  int chunk = 0;                               ///< which chunk moves
  std::int64_t begin = 0;                      ///< first element of the chunk
  std::int64_t end = 0;                        ///< one past its last element
};

/// 2 (p-1) p, the number of entries of ring_schedule(p, n), in 64-bit arithmetic.
/// Throws std::invalid_argument unless p >= 1.
std::int64_t ring_step_count(int p);

/// Every transfer of a ring all-reduce of n elements over p ranks, ordered by
/// phase, then step, then sending rank: 2 (p-1) p entries (none for p = 1).
/// All transfers of one (phase, step) happen at once; within a step each rank
/// sends one chunk and receives a different one. The list grows as p^2 (p =
/// 65536 would need about 344 GB): a p whose list exceeds the memory budget
/// (memory_budget.hpp) is refused with std::invalid_argument before anything is built.
std::vector<RingStep> ring_schedule(int p, std::int64_t n);

/// "reduce-scatter step 0: rank 0 -> rank 1 chunk 3 [6, 8)".
std::string describe(const RingStep& step);

}  // namespace atp::sim
