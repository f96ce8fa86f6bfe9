/// \file experiments.hpp
/// \brief Chapter 10's experiments: the cost model against published
///        measurements (the validation table), and the three crossovers
///        the chapter answers: when strategy C beats B, when the embedding
///        all-reduce is a hotspot, and when tensor parallelism stops paying.
///
/// Each function computes its table from the cost model alone (dry runs on
/// the compiled-in profiles and models) and prints it; the chapter README
/// quotes these tables and names the command that prints each one
/// (atp-ch10-where-the-time-goes --section ...). The published numbers are
/// written here once, each with its source. Leaves out: anything measured on
/// this machine (there is no GPU; kernel_comparison() takes measured times
/// from a file a GPU session writes).
#pragma once

#include "atp/sim/cost/hardware.hpp"
#include "atp/sim/cost/scenario.hpp"
#include "atp/sim/cost/timeline.hpp"

#include <string>
#include <vector>

namespace atp::ch10 {

/// When the vision stage is over in `t`: the end of the last span labelled vision.* (after the stage's
/// closing collective every rank has the features), in ms.
double vision_ready_ms(const cost::Timeline& t);

/// The F / Y at which a tensor-parallel GELU MLP (H -> F -> H, T tokens, Y ranks) on `hw` spends as long
/// computing as all-reducing: F0 x comm / compute / Y from one dry run at F0 = Y x 4096 (compute grows
/// with F, the all-reduce of (T, H) does not). The model's version of the scaling book's C / W.
double mlp_break_even_f_per_rank(const cost::HardwareProfile& hw, int Y, std::int64_t T, std::int64_t H,
                                 const cost::CostOptions& options = {});

/// One published measurement and the model's prediction of it.
struct ValidationRow {
  std::string what;         ///< what was measured
  double measured = 0;      ///< the published value
  std::string unit;         ///< its unit
  std::string source;       ///< who published it, where
  double predicted = 0;     ///< the model's value, same unit
  std::string how;          ///< how the model's value is computed
  std::string note;         ///< a diagnosis where the ratio misses 25 % (computed, not typed in)
  /// predicted / measured.
  double ratio() const { return predicted / measured; }
};

/// Every row of the validation table, computed now.
std::vector<ValidationRow> validation_rows();
/// Prints the table (measured, predicted, ratio, within 25 % or not) and the sources.
void print_validation(const std::vector<ValidationRow>& rows);

/// Time to first token per strategy for one model, p and image count.
struct StrategyPoint {
  std::string model;          ///< the VLM
  int p = 1;                  ///< ranks
  int images = 0;             ///< images in the request
  double ttft_ms[3] = {};     ///< A, B, C (B after its fallback, if any)
  double encode_ms[3] = {};   ///< the vision stage alone (encoder + its collective), rank 0's view
  double idle[3] = {};        ///< mean idle fraction of rank-time
  bool b_fell_back = false;   ///< B was impossible at this p and ran as C
  std::string cannot_run;     ///< non-empty (and images 0): the model cannot run at this p, and why
};

/// TTFT of strategies A, B, C on `hw` for `model`, p in `ps`, images 1..max_images.
std::vector<StrategyPoint> strategy_sweep(const std::string& model, const cost::HardwareProfile& hw,
                                          const std::vector<int>& ps, int max_images);
/// Prints the sweep, and per p the crossover: the fewest images at which C's TTFT is below B's.
void print_strategy_sweep(const std::vector<StrategyPoint>& points);

/// The embedding all-reduce and the logits collective against a whole forward.
struct EmbeddingPoint {
  std::int64_t tokens = 0;  ///< T (prefill) or the cached context (decode)
  double forward_ms = 0;    ///< the whole forward (makespan)
  double embed_ms = 0;      ///< the embedding all-reduce
  double logits_ms = 0;     ///< the logits collective
  double blocks_comm_ms = 0;  ///< the 2L block all-reduces together
};

/// Prefill of T = 1, 2, 4, ..., 65536 tokens and decode steps after those contexts, for `decoder` at tp p.
std::vector<EmbeddingPoint> embedding_sweep(const std::string& decoder, const cost::HardwareProfile& hw, int p,
                                            cost::Phase phase);
/// Prints both sweeps and the largest share the embedding all-reduce reaches.
void print_embedding_sweep(const std::string& decoder, const cost::HardwareProfile& hw, int p);

/// One tensor-parallel size of one phase.
struct TpPoint {
  int p = 1;                 ///< ranks
  std::string hw;            ///< the profile
  double time_ms = 0;        ///< TTFT or decode step
  double compute_ms = 0;     ///< rank 0's compute
  double comm_ms = 0;        ///< rank 0's collectives
  double weights_ms = 0;     ///< decode: reading the rank's weights at the profile's effective bandwidth
};

/// Prefill of `tokens` tokens and one decode step after `context`, at each p of `ps`.
std::vector<TpPoint> tp_sweep(const std::string& decoder, const std::vector<std::string>& profiles,
                              const std::vector<int>& ps, cost::Phase phase, std::int64_t tokens_or_context);
/// Prints when TP stops paying: prefill compute/communication ratio and speedup, decode weight reads against
/// the 2L + 1 all-reduces, within a node and across InfiniBand.
void print_tp_sweep(const std::string& decoder);

/// Predicted per-kernel times for a canonical set of shapes on one GPU, as CSV
/// (kind,name,M,N,K,predicted_us). With `measured_csv` (the same columns plus
/// measured_us, written by a GPU session), prints prediction / measurement per
/// kernel and how many are within 15 %. \throws std::invalid_argument naming the file or the bad line.
void kernel_comparison(const cost::HardwareProfile& hw, const std::string& measured_csv);

}  // namespace atp::ch10
