/// \file tp_bits_report.cpp
/// \brief Section 9 of chapter 7's binary: logits digests, ulp histograms and
///        the tightest argmax across tp (see tp_bits_report.hpp).
#include "tp_bits_report.hpp"

#include "atp/sim/golden.hpp"
#include "atp/ulp.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>

namespace atp::ch07 {
namespace sim = atp::sim;
namespace {

/// Every step's logits stacked: (steps, V).
Matrix stacked_logits(const sim::GenerationResult& r) {
  if (r.steps.empty()) return Matrix(0, 0);
  Matrix m(static_cast<Eigen::Index>(r.steps.size()), r.steps.front().logits.cols());
  for (std::size_t k = 0; k < r.steps.size(); ++k) m.row(static_cast<Eigen::Index>(k)) = r.steps[k].logits.row(0);
  return m;
}

/// Counts of ulp distances in the buckets 0, 1, 2-3, 4-15, 16-255, >= 256 (chapter 11's buckets).
std::array<std::size_t, 6> ulp_histogram(const Matrix& a, const Matrix& b) {
  std::array<std::size_t, 6> h{};
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    const std::uint32_t u = atp::ulp_distance(a.data()[i], b.data()[i]);
    h[u == 0 ? 0 : u == 1 ? 1 : u < 4 ? 2 : u < 16 ? 3 : u < 256 ? 4 : 5]++;
  }
  return h;
}

/// The gap between the largest and second-largest entry of a (1, V) row.
double top2_gap(const Matrix& row) {
  double first = -std::numeric_limits<double>::infinity(), second = first;
  for (Eigen::Index j = 0; j < row.cols(); ++j) {
    const double v = row(0, j);
    if (v > first) {
      second = first;
      first = v;
    } else if (v > second) {
      second = v;
    }
  }
  return first - second;
}

}  // namespace

std::string logits_digest(const sim::GenerationResult& result) {
  return sim::digest_matrix(stacked_logits(result)).fnv1a64;
}

bool print_bits_across_tp(const sim::Checkpoint& checkpoint, const std::vector<std::int64_t>& prompt, int steps,
                          sim::DecoderOptions options) {
  std::vector<int> tps;
  std::vector<sim::GenerationResult> runs;
  for (int p : {1, 2, 4, 8}) {
    try {
      sim::check_decoder_tp(checkpoint.config(), p);
    } catch (const std::invalid_argument&) {
      continue;
    }
    sim::World world(p);
    const auto decoder = sim::ParallelDecoder::load(checkpoint, p, options);
    sim::DecoderState state =
        decoder.new_state(sim::generation_positions(static_cast<std::int64_t>(prompt.size()), steps));
    tps.push_back(p);
    runs.push_back(sim::greedy_generate(world, decoder, state, prompt, steps));
  }
  const bool tree = options.order == sim::ReduceOrder::Tree;
  const std::string order_note = tree ? ", S = " + std::to_string(options.tree_segments) : std::string();
  std::printf("9. The bits across tp (order: %s%s): every step's logits (%d x %lld) as one digest\n\n"
              "   %4s  %-16s  %-9s  %s\n",
              sim::to_string(options.order), order_note.c_str(),
              static_cast<int>(runs.front().steps.size()), static_cast<long long>(checkpoint.config().vocab), "tp",
              "logits digest", "ids = tp1",
              "ulp vs tp 1: 0 | 1 | 2-3 | 4-15 | 16-255 | >=256");
  const Matrix base = stacked_logits(runs.front());
  bool same_digest = true;
  double max_diff = 0.0;  // the largest |logit - tp 1's logit| over every tp, step and id
  std::vector<double> step_diff(runs.front().steps.size(), 0.0);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Matrix m = stacked_logits(runs[i]);
    const std::string digest = sim::digest_matrix(m).fnv1a64;
    same_digest = same_digest && digest == logits_digest(runs.front());
    const auto h = ulp_histogram(m, base);
    std::printf("   %4d  %-16s  %-9s  %zu | %zu | %zu | %zu | %zu | %zu\n", tps[i], digest.c_str(),
                runs[i].generated == runs.front().generated ? "yes" : "NO", h[0], h[1], h[2], h[3], h[4], h[5]);
    for (std::size_t k = 0; k < step_diff.size() && k < runs[i].steps.size(); ++k)
      for (Eigen::Index j = 0; j < m.cols(); ++j) {
        const double d = std::fabs(static_cast<double>(m(static_cast<Eigen::Index>(k), j)) -
                                   static_cast<double>(base(static_cast<Eigen::Index>(k), j)));
        step_diff[k] = std::max(step_diff[k], d);
        max_diff = std::max(max_diff, d);
      }
  }
  std::printf("\n   logits digests identical at every tp: %s\n", same_digest ? "yes" : "no");
  if (same_digest) {
    std::printf("   No logit differs between any two tp, so no argmax can: the generated ids are one sequence.\n\n");
    return true;
  }
  // Where could the tp decide the token? The step whose top-two gap (tp 1) is smallest against the cross-tp spread.
  int first_flip = -1, tightest = 0;
  double tightest_ratio = std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k < step_diff.size(); ++k) {
    const double gap = top2_gap(runs.front().steps[k].logits);
    const double ratio = step_diff[k] > 0.0 ? gap / step_diff[k] : std::numeric_limits<double>::infinity();
    if (ratio < tightest_ratio) {
      tightest_ratio = ratio;
      tightest = static_cast<int>(k);
    }
    if (first_flip < 0 && ratio <= 2.0) first_flip = static_cast<int>(k);
  }
  std::printf("   largest |logit(tp) - logit(tp 1)|: %.3g; tightest step %d: its top-two gap is %.0f times the\n"
              "   cross-tp difference there\n",
              max_diff, tightest, tightest_ratio);
  if (first_flip < 0)
    std::printf("   first step whose argmax could flip (top-two gap <= 2 x the cross-tp difference): none in %zu steps\n\n",
                step_diff.size());
  else
    std::printf("   first step whose argmax could flip (top-two gap <= 2 x the cross-tp difference): step %d\n\n",
                first_flip);
  return false;
}

}  // namespace atp::ch07
