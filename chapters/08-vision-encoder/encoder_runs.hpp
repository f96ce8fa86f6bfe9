/// \file encoder_runs.hpp
/// \brief Chapter 8's bookkeeping around the strategies: run one in its own
/// world, compare it with the dense encoder, and print its busy/idle table.
///
/// Legend: p = ranks, R = rows of the whole batch, H = hidden. "Dense" is the
/// whole encoder at p = 1 on the whole batch (one process, one rank): the
/// single-device model every strategy must reproduce. Leaves out: the GPU
/// (encoder_gpu.cpp runs the same strategies on NCCL ranks).
#pragma once

#include "vit_inputs.hpp"

#include "atp/dense_reference.hpp"
#include "atp/dense_vit_reference.hpp"
#include "atp/sim/busy_idle.hpp"
#include "atp/sim/vision/encoder_strategies.hpp"
#include "atp/sim/world.hpp"
#include "atp/ulp.hpp"

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

namespace atp::ch08 {

/// One strategy's run: what was asked, what ran, its world (trace) and its output.
struct StrategyRun {
  sim::StrategyChoice choice;          ///< requested and used strategy
  std::unique_ptr<sim::World> world;   ///< the p ranks it ran on, with their trace
  sim::EncodedImages encoded;          ///< features on every rank, and the steps of C
};

/// Runs `requested` (or its fallback) on p ranks, narrating to stdout if asked.
inline StrategyRun run_strategy(const VitProblem& problem, sim::EncoderStrategy requested, int p, bool narrate) {
  StrategyRun run;
  run.choice = sim::choose_encoder_strategy(requested, problem.config, p);
  run.world = std::make_unique<sim::World>(p);
  if (narrate) run.world->narrate_to(std::cout);
  run.encoded = sim::encode_images(*run.world, run.choice.used, problem.config, problem.weights, problem.images, "vit");
  run.world->stop_narrating();
  return run;
}

/// The dense encoder: p = 1, the whole batch, one rank.
inline Matrix dense_features(const VitProblem& problem) {
  sim::World one(1);
  return sim::ParallelVisionTransformer::from_master(problem.config, problem.weights, 1)
      .forward(one, problem.images, "dense")[0];
}

/// The float64 reference of the whole batch, image after image.
inline MatrixD reference_features(const VitProblem& problem) {
  Eigen::Index rows = 0;
  std::vector<MatrixD> parts;
  for (const Image& img : problem.images) {
    parts.push_back(vit_ref(problem.config, problem.weights, img).out);
    rows += parts.back().rows();
  }
  MatrixD all(rows, problem.config.hidden);
  Eigen::Index at = 0;
  for (const MatrixD& m : parts) {
    all.middleRows(at, m.rows()) = m;
    at += m.rows();
  }
  return all;
}

/// The worst comparison of any rank's features with `dense`.
inline BitwiseReport worst_vs_dense(const sim::EncodedImages& e, const Matrix& dense) {
  BitwiseReport worst = compare_bitwise(e.features[0], dense);
  for (int r = 1; r < e.features.size(); ++r) {
    const BitwiseReport rep = compare_bitwise(e.features[r], dense);
    if (rep.differing > worst.differing) worst = rep;
  }
  return worst;
}

/// Largest |difference| between two matrices of the same shape.
inline double max_abs_difference(const Matrix& a, const Matrix& b) {
  return a.size() == 0 ? 0.0 : static_cast<double>((a - b).cwiseAbs().maxCoeff());
}

/// The run's summary line: busiest rank, idle share, bytes, collectives, bits.
inline void print_summary_row(const StrategyRun& run, const Matrix& dense, const MatrixD& ref) {
  const auto rows = sim::busy_idle(run.world->trace());
  const auto imb = sim::imbalance(rows);
  std::int64_t busiest = 0, total = 0, sent = 0;
  for (const auto& r : rows) {
    busiest = std::max(busiest, r.flops);
    total += r.flops;
    sent += r.bytes_sent;
  }
  const BitwiseReport bits = worst_vs_dense(run.encoded, dense);
  const std::string name = run.choice.requested == run.choice.used
                               ? std::string(sim::strategy_letter(run.choice.used)) + " " + sim::to_string(run.choice.used)
                               : std::string(sim::strategy_letter(run.choice.requested)) + "->" +
                                     sim::strategy_letter(run.choice.used) + " " + sim::to_string(run.choice.used);
  std::printf("   %-11s  %10.3f  %10.3f  %5.1f  %10lld  %11lld  %9zu  %8u  %9.2e\n", name.c_str(), busiest / 1e6,
              total / 1e6,
              100.0 * imb.idle_fraction, static_cast<long long>(sent),
              static_cast<long long>(run.encoded.plans.empty() ? 0 : run.encoded.plans[0].size()), bits.differing,
              bits.max_ulp, max_abs_error(run.encoded.features[0], ref));
}

}  // namespace atp::ch08
