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

double book_collective_seconds(const std::string& op, int p, double max_bytes, const AlphaBetaFigures& f) {
  const int steps = book_steps(op, p);
  if (!(max_bytes >= 0))
    throw std::invalid_argument("book_collective_seconds: " + std::to_string(max_bytes) + " bytes; need >= 0");
  if (p == 1) return 0.0;
  return f.launch_latency_us.value * 1e-6 + steps * f.step_latency_us.value * 1e-6 + max_bytes / (f.link_GBps.value * 1e9);
}

}  // namespace atp::cost
