/// \file book_forms.cpp
/// \brief Alpha-beta time of the book's collective forms from the trace's bytes.
#include "atp/sim/cost/book_forms.hpp"

#include <stdexcept>

namespace atp::cost {

namespace {
int ceil_log2(int p) {
  int k = 0;
  while ((1 << k) < p) ++k;
  return k;
}
}  // namespace

int book_steps(const std::string& op, int p) {
  if (p < 1) throw std::invalid_argument("book_steps: p = " + std::to_string(p) + "; need p >= 1");
  if (op == "all_reduce_rank_order" || op == "reduce_scatter" || op == "gather" || op == "all_reduce_max") return 1;
  if (op == "all_reduce_ring") return 2 * (p - 1);
  if (op == "all_gather" || op == "broadcast") return p - 1;
  if (op == "all_reduce_tree" || op == "reduce_scatter_tree") return ceil_log2(p);
  throw std::invalid_argument("no book form for trace op '" + op +
                              "'; known collectives: all_reduce_rank_order, all_reduce_ring, all_gather, "
                              "reduce_scatter, broadcast, gather, all_reduce_tree, reduce_scatter_tree, all_reduce_max");
}

double book_collective_seconds(const std::string& op, int p, double message_bytes, double max_bytes,
                               const sim::LinkProfile& link) {
  const int steps = book_steps(op, p);
  if (!(max_bytes >= 0) || !(message_bytes >= 0))
    throw std::invalid_argument("book_collective_seconds: " + std::to_string(message_bytes) + " / " +
                                std::to_string(max_bytes) + " bytes; need >= 0");
  if (p == 1) return 0.0;
  if (op == "all_reduce_rank_order")
    return sim::all_reduce_time(sim::AllReduceForm::OneShot, p, message_bytes, link).total_s();
  if (op == "all_reduce_ring") return sim::all_reduce_time(sim::AllReduceForm::Ring, p, message_bytes, link).total_s();
  return link.launch_latency() + steps * link.step_latency() + max_bytes / link.bandwidth();
}

}  // namespace atp::cost
