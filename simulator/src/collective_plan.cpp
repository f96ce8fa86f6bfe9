/// \file collective_plan.cpp
/// \brief Comparing the ranks' planned collective sequences.
#include "atp/sim/collective_plan.hpp"

#include "atp/sim/compute.hpp"

#include <algorithm>

namespace atp::sim {
namespace {

std::string call_text(const CollectivePlan& plan, std::size_t k) {
  return k < plan.size() ? "'" + plan[k] + "'" : "nothing (it has issued all its " + std::to_string(plan.size()) +
                                                     " collectives and moved on)";
}

}  // namespace

std::string collective_plan_mismatch(const std::vector<CollectivePlan>& plans) {
  if (plans.size() < 2) return "";
  std::size_t longest = 0;
  for (const auto& p : plans) longest = std::max(longest, p.size());
  for (std::size_t k = 0; k < longest; ++k)
    for (std::size_t r = 1; r < plans.size(); ++r) {
      const bool a = k < plans[0].size(), b = k < plans[r].size();
      if (a && b && plans[0][k] == plans[r][k]) continue;
      if (!a && !b) continue;
      return "collective call " + std::to_string(k + 1) + " differs: rank 0 issues " + call_text(plans[0], k) +
             ", rank " + std::to_string(r) + " issues " + call_text(plans[r], k) +
             ". NCCL pairs the k-th call of every rank, so each would wait for the other forever: a hang "
             "(on the GPU, the communicator's deadline turns it into an error)";
    }
  return "";
}

std::vector<CollectivePlan> collective_plans(const Trace& trace, const std::string& label_prefix) {
  std::vector<CollectivePlan> plans(static_cast<std::size_t>(trace.ranks()));
  for (const TraceEvent& e : trace.events())
    if (e.op != kMatmulOp && e.label.rfind(label_prefix, 0) == 0)
      plans[static_cast<std::size_t>(e.rank)].push_back(e.op + " " + e.label);
  return plans;
}

void check_collective_plans(const std::vector<CollectivePlan>& plans) {
  const std::string why = collective_plan_mismatch(plans);
  if (!why.empty()) throw CollectiveMismatch(why);
}

}  // namespace atp::sim
