/// \file embedding_kernels.hpp
/// \brief The chapter 6 kernels: the masked vocabulary-parallel lookup and
///        the per-rank argmax pairs of the greedy LM head.
///
/// Letters: T = tokens, H = hidden size, n = rows of a rank's shard (V_pad/p),
/// V = vocabulary size, [start, end) = the ids this rank owns.
///
/// Like kernels.hpp: sizes checked (std::invalid_argument), no launch when
/// empty, launch checked, no synchronisation, no Eigen. Nothing here adds
/// floats, so no thread layout can change a bit; the CPU twins are
/// atp::sim::VocabParallelEmbedding::partial_embeddings and
/// atp::sim::local_argmax_pairs. Leaves out: vectorised loads, fusing the
/// lookup with the all-reduce.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace atp::cuda {

/// out (T, H)[t][h] = shard[id_t - start][h] when start <= id_t < end, else -0.0f
/// (the additive identity, so the all-reduce returns the owner's value exactly).
/// Never reads outside shard (n, H): an id outside [0, V), or one whose local
/// index would reach n, writes -0.0f and lowers *bad_position (device int,
/// which the caller sets to INT_MAX before the launch) to its position t
/// with atomicMin, so the host can name the first bad token.
void launch_vocab_embedding_lookup(const float* shard, int n, int H, const std::int64_t* ids, int T,
                                   std::int64_t start, std::int64_t end, std::int64_t V, float* out,
                                   int* bad_position, cudaStream_t stream);

/// pairs (T, 2): per row t of logits (T, ld), the largest of the first `valid`
/// columns and start + its lowest column (as a float); valid = 0 gives
/// (-inf, V). One thread per row, columns ascending, strict >: the order of
/// atp::sim::local_argmax_pairs.
void launch_local_argmax_pairs(const float* logits, int T, int ld, int valid, std::int64_t start, std::int64_t V,
                               float* pairs, cudaStream_t stream);

}  // namespace atp::cuda
