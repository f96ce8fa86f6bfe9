/// \file vocab_parallel_log_softmax.hpp
/// \brief The log-softmax of vocabulary-parallel logits (chapter 11): each
///        rank holds its (T, n) slice of the logits and gets its slice of the
///        log-probabilities, without ever gathering the (T, V) logits.
///
/// Legend: V, V_pad, n = V_pad / p as in vocab_parallel_embedding.hpp; T =
/// tokens; S = tree segments (a power of two dividing V_pad, p | S).
///
///     m_r   = max of rank r's real logits, per token         (T, 1)
///     m     = all_reduce_max(m_r)                            exact in any order: same bits at every p
///     e_r   = rank r's sum of exp(z - m) over its real ids   (T, 1)
///     sum   = all-reduce of e_r                              <- the only sum split across ranks
///     out_r = (z_r - m) - log(sum)                           (T, n); padding ids get -inf
///
/// ReduceOrder::RankOrder is the ordinary way: each rank sums its whole slice
/// in the 32-lane order and the rank-order all-reduce adds the p sums, so the
/// result changes with p. ReduceOrder::Tree uses the order of
/// atp/log_softmax_order.hpp: V_pad is cut into S segments, each summed in the
/// 32-lane order; rank r combines its S/p segments with the lower tree levels
/// and all_reduce_tree performs the upper ones: the same bits at every p that
/// divides S, equal to log_softmax_tree() of the full logits. This is the
/// vocabulary-parallel cross-entropy's forward without the loss (Megatron-LM's
/// _VocabParallelCrossEntropy.forward all-reduces the max and the sum of
/// exponentials the same way, with NCCL's own order).
/// Leaves out: the loss and its backward pass, temperature, sampling.
#pragma once

#include "atp/sim/layers/row_parallel_linear.hpp"
#include "atp/sim/per_rank.hpp"
#include "atp/sim/world.hpp"
#include "atp/tensor.hpp"

#include <cstdint>
#include <string>

namespace atp::sim {

/// Which order the sum of exponentials takes, and its tree segments.
struct LogSoftmaxOptions {
  ReduceOrder order = ReduceOrder::Tree;          ///< RankOrder (ordinary) or Tree (the same bits at every p)
  int tree_segments = atp::kDefaultTreeSegments;  ///< S for ReduceOrder::Tree
};

/// The single-device log-softmax of logits (T, V) in the tree order over
/// V_pad = padded_vocab columns cut into S segments (padding ids skipped):
/// what vocab_parallel_log_softmax returns at every p, joined. (T, V).
/// \throws std::invalid_argument unless padded_vocab >= V and S is a power of two dividing it.
Matrix log_softmax_tree(const Matrix& logits, std::int64_t padded_vocab, int segments);

/// Rank r's log-probabilities (T, n) from its local logits (T, n) (padding
/// columns included, as ParallelLMHead::local_logits returns them), for a
/// vocabulary of V real ids. Traces one all_reduce_max (label + ".max") and
/// one sum all-reduce (label + ".sum"); padding columns come back -inf.
/// \throws std::invalid_argument for shapes that do not fit V and p, or (Tree)
///         unless S is a power of two dividing V_pad and p divides S.
PerRank<Matrix> vocab_parallel_log_softmax(World& world, const PerRank<Matrix>& local_logits, std::int64_t V,
                                           LogSoftmaxOptions options, const std::string& label);

}  // namespace atp::sim
