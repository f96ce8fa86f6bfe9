/// \file collective_plan.hpp
/// \brief Checks that every rank will issue the same collectives in the same
///        order, and says which rank would wait forever when they do not.
///
/// NCCL matches collectives by their position in each rank's sequence on a
/// communicator: the k-th call on rank 0 meets the k-th call on every other
/// rank. If one rank skips a call that the others make (because it has no
/// image to encode, say), the others block inside that call and the skipping
/// rank blocks inside its next one: a hang, with no error. The simulator runs
/// all ranks in lockstep and cannot hang, so code that decides per rank
/// which collectives to issue states its plan first and checks it here.
/// The serving bug this guards against: SGLang's data-parallel vision encoder
/// for Qwen3-VL kept its position embedding vocab-parallel, so ranks that
/// received an image issued an all-reduce the imageless ranks never joined
/// (sgl-project/sglang pull requests 20759 and 20788, both "hang" fixes in
/// python/sglang/srt/models/qwen3_vl.py). Leaves out: checking shapes (the
/// collectives themselves refuse unequal sizes).
#pragma once

#include "atp/sim/collective_call.hpp"  // CollectiveMismatch: one class for every "ranks disagree" error
#include "atp/sim/trace.hpp"

#include <string>
#include <vector>

namespace atp::sim {

/// One rank's planned collective calls, in order, e.g. {"all_gather vit.gather"}.
using CollectivePlan = std::vector<std::string>;

/// "" when every rank's plan is the same sequence; otherwise a description of
/// the first position k where two ranks differ: what each of them would be
/// waiting in (or that it has already finished), and why that hangs.
std::string collective_plan_mismatch(const std::vector<CollectivePlan>& plans);

/// The collectives each rank issued, read from the trace (events whose label
/// starts with `label_prefix`, matmuls left out): "op label" per call, in order.
std::vector<CollectivePlan> collective_plans(const Trace& trace, const std::string& label_prefix = "");

/// Throws CollectiveMismatch with collective_plan_mismatch()'s text if it is not empty.
void check_collective_plans(const std::vector<CollectivePlan>& plans);

}  // namespace atp::sim
