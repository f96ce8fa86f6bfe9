/// \file sweeps.cpp
/// \brief The three crossovers: strategy C against B, the embedding
///        all-reduce's share of a forward, and when tensor parallelism stops paying.
#include "experiments.hpp"

#include "atp/sim/cost/models.hpp"
#include "atp/sim/cost/timeline.hpp"

#include <algorithm>
#include <utility>
#include <cstdio>

namespace atp::ch10 {

namespace cost = atp::cost;
namespace sdry = atp::sim::dry;

namespace {

double collective_ms(const cost::Timeline& t, int rank, const std::string& prefix) {
  return t.seconds_with_prefix(rank, prefix, cost::SpanKind::Collective) * 1e3;
}

}  // namespace

double vision_ready_ms(const cost::Timeline& t) {
  double end = 0;
  for (const cost::Span& s : t.spans)
    if (s.label.rfind("vision", 0) == 0) end = std::max(end, s.end_s);
  return end * 1e3;
}

std::vector<StrategyPoint> strategy_sweep(const std::string& model, const cost::HardwareProfile& hw,
                                          const std::vector<int>& ps, int max_images) {
  std::vector<StrategyPoint> out;
  const sdry::EncoderStrategy all[3] = {sdry::EncoderStrategy::OneRank, sdry::EncoderStrategy::Weights,
                                        sdry::EncoderStrategy::Data};
  for (int p : ps) {
    cost::Scenario probe;
    probe.model = model;
    probe.tp = p;
    try {
      cost::validate(probe, hw);
    } catch (const std::invalid_argument& e) {
      StrategyPoint skipped;  // images = 0: this p cannot run the model
      skipped.model = model;
      skipped.p = p;
      skipped.cannot_run = e.what();
      out.push_back(skipped);
      continue;
    }
    for (int n = 1; n <= max_images; ++n) {
      StrategyPoint pt;
      pt.model = model;
      pt.p = p;
      pt.images = n;
      for (int k = 0; k < 3; ++k) {
        cost::Scenario s;
        s.model = model;
        s.tp = p;
        s.images = n;
        s.strategy = all[k];
        const cost::ScenarioResult r = cost::run_scenario(s, hw, {});
        pt.ttft_ms[k] = r.timeline.makespan_s * 1e3;
        pt.encode_ms[k] = vision_ready_ms(r.timeline);
        pt.idle[k] = r.timeline.mean_idle_fraction();
        if (k == 1) pt.b_fell_back = !r.note.empty();
      }
      out.push_back(pt);
    }
  }
  return out;
}

void print_strategy_sweep(const std::vector<StrategyPoint>& points) {
  if (points.empty()) return;
  std::printf("%-14s %3s %6s | %9s %9s %9s | %9s %9s %9s | %6s %6s %6s\n", "model", "p", "images", "TTFT A", "TTFT B",
              "TTFT C", "vision A", "vision B", "vision C", "idle A", "idle B", "idle C");
  for (const StrategyPoint& pt : points)
    if (pt.images == 0)
      std::printf("%-14s %3d      - | %s\n", pt.model.c_str(), pt.p, pt.cannot_run.c_str());
    else
    std::printf("%-14s %3d %6d | %9.3f %9.3f %9.3f | %9.3f %9.3f %9.3f | %5.1f%% %5.1f%% %5.1f%%%s\n",
                pt.model.c_str(), pt.p, pt.images, pt.ttft_ms[0], pt.ttft_ms[1], pt.ttft_ms[2], pt.encode_ms[0],
                pt.encode_ms[1], pt.encode_ms[2], 100 * pt.idle[0], 100 * pt.idle[1], 100 * pt.idle[2],
                pt.b_fell_back ? "  (B impossible: ran as C)" : "");
  std::printf("\n(ms; vision = until the encoder's output is on every rank; idle = mean share of rank-time spent waiting)\n");
  std::printf("\nCrossover: the fewest images at which C's time to first token is below B's\n");
  for (std::size_t i = 0; i < points.size();) {
    const std::string model = points[i].model;
    const int p = points[i].p;
    int first = -1, n_max = 0;
    bool fell_back = false, b_always_loses_after = true;
    std::size_t j = i;
    for (; j < points.size() && points[j].p == p && points[j].model == model; ++j) {
      if (points[j].images == 0) continue;
      n_max = points[j].images;
      fell_back = fell_back || points[j].b_fell_back;
      const bool c_wins = points[j].ttft_ms[2] < points[j].ttft_ms[1];
      if (c_wins && first < 0) first = points[j].images;
      if (!c_wins && first >= 0) b_always_loses_after = false;
    }
    if (n_max == 0)
      std::printf("  %-14s p = %d: the model cannot run at this p\n", model.c_str(), p);
    else if (fell_back)
      std::printf("  %-14s p = %d: B cannot split the encoder at this p (vLLM falls back to C)\n", model.c_str(), p);
    else if (first < 0)
      std::printf("  %-14s p = %d: B stays faster up to %d images\n", model.c_str(), p, n_max);
    else
      std::printf("  %-14s p = %d: C beats B from %d image%s%s\n", model.c_str(), p, first, first == 1 ? "" : "s",
                  b_always_loses_after ? "" : " (not at every count above)");
    i = j;
  }
}

std::vector<EmbeddingPoint> embedding_sweep(const std::string& decoder, const cost::HardwareProfile& hw, int p,
                                            cost::Phase phase) {
  std::vector<EmbeddingPoint> out;
  for (std::int64_t n = 1; n <= 65536; n *= 2) {
    cost::Scenario s;
    s.model = decoder;
    s.tp = p;
    s.images = 0;
    s.phase = phase;
    if (phase == cost::Phase::Prefill)
      s.text_tokens = n;
    else
      s.context = n;
    const cost::ScenarioResult r = cost::run_scenario(s, hw, {});
    EmbeddingPoint pt;
    pt.tokens = n;
    pt.forward_ms = r.timeline.makespan_s * 1e3;
    pt.embed_ms = collective_ms(r.timeline, 0, "decoder.embed");
    pt.logits_ms = collective_ms(r.timeline, 0, "decoder.lm_head");
    pt.blocks_comm_ms = collective_ms(r.timeline, 0, "decoder.block");
    out.push_back(pt);
  }
  return out;
}

void print_embedding_sweep(const std::string& decoder, const cost::HardwareProfile& hw, int p) {
  double max_share = 0;
  std::int64_t at = 0;
  const char* at_phase = "";
  for (cost::Phase phase : {cost::Phase::Prefill, cost::Phase::Decode}) {
    std::printf("%s, %s, tp %d on %s (%s)\n", decoder.c_str(), cost::to_string(phase), p, hw.name.c_str(),
                phase == cost::Phase::Prefill ? "T = tokens of the prompt" : "one token after T cached");
    std::printf("%8s %12s %12s %8s %12s %8s %14s\n", "T", "forward_ms", "embed_AR_ms", "share", "logits_ms", "share",
                "2L_block_AR_ms");
    for (const EmbeddingPoint& pt : embedding_sweep(decoder, hw, p, phase)) {
      const double share = pt.embed_ms / pt.forward_ms;
      if (share > max_share) {
        max_share = share;
        at = pt.tokens;
        at_phase = cost::to_string(phase);
      }
      std::printf("%8lld %12.4f %12.4f %7.2f%% %12.4f %7.2f%% %14.4f\n", static_cast<long long>(pt.tokens), pt.forward_ms,
                  pt.embed_ms, 100 * share, pt.logits_ms, 100 * pt.logits_ms / pt.forward_ms, pt.blocks_comm_ms);
    }
    std::printf("\n");
  }
  const auto& d = cost::model_catalog().decoder(decoder).shape;
  std::printf("largest share of the embedding all-reduce: %.2f%% of a forward (%s, T = %lld); it is 1 of the "
              "1 + 2L = %d all-reduces of a forward, all of the same (T, H) size\n\n",
              100 * max_share, at_phase, static_cast<long long>(at), 1 + 2 * d.layers);
}

std::vector<TpPoint> tp_sweep(const std::string& decoder, const std::vector<std::string>& profiles,
                              const std::vector<int>& ps, cost::Phase phase, std::int64_t tokens_or_context) {
  std::vector<TpPoint> out;
  const auto& d = cost::model_catalog().decoder(decoder).shape;
  for (const std::string& name : profiles) {
    const cost::HardwareProfile& hw = cost::hardware_profile(name);
    for (int p : ps) {
      if (p > hw.max_ranks()) continue;
      cost::Scenario s;
      s.model = decoder;
      s.tp = p;
      s.images = 0;
      s.phase = phase;
      (phase == cost::Phase::Prefill ? s.text_tokens : s.context) = tokens_or_context;
      const cost::ScenarioResult r = cost::run_scenario(s, hw, {});
      TpPoint pt;
      pt.p = p;
      pt.hw = name;
      pt.time_ms = r.timeline.makespan_s * 1e3;
      pt.compute_ms = r.timeline.ranks[0].compute_s * 1e3;
      pt.comm_ms = r.timeline.ranks[0].collective_s * 1e3;
      const double params = static_cast<double>(d.layers) *
                                (2.0 * d.hidden * d.hidden + 2.0 * d.hidden * d.hidden * d.kv_heads / d.heads +
                                 3.0 * d.hidden * d.intermediate) +
                            d.vocab * d.hidden;  // blocks + LM head (the embedding is a lookup)
      pt.weights_ms = 2.0 * params / p / (hw.peak_memory_bandwidth() * hw.efficiency.gemm_memory.value) * 1e3;
      out.push_back(pt);
    }
  }
  return out;
}

void print_tp_sweep(const std::string& decoder) {
  const std::vector<std::string> profiles = {"h100-sxm-2node-ib"};
  const std::vector<int> ps = {1, 2, 4, 8, 16};
  for (cost::Phase phase : {cost::Phase::Prefill, cost::Phase::Decode}) {
    const std::int64_t n = phase == cost::Phase::Prefill ? 2048 : 2048;
    std::printf("%s %s (%s %lld), h100-sxm-2node-ib: p <= 8 inside one node (NVLink), p = 16 across InfiniBand\n",
                decoder.c_str(), cost::to_string(phase), phase == cost::Phase::Prefill ? "T =" : "context",
                static_cast<long long>(n));
    std::printf("%4s %10s %10s %10s %11s %9s %12s\n", "p", "time_ms", "compute", "comm", "comp/comm", "speedup",
                phase == cost::Phase::Decode ? "weights_ms" : "");
    const auto pts = tp_sweep(decoder, profiles, ps, phase, n);
    int stop = -1;
    for (std::size_t i = 0; i < pts.size(); ++i) {
      const TpPoint& pt = pts[i];
      const double speedup = pts[0].time_ms / pt.time_ms;
      if (stop < 0 && i > 0 && pt.time_ms >= pts[i - 1].time_ms) stop = pt.p;
      std::printf("%4d %10.4f %10.4f %10.4f %11.2f %9.2f", pt.p, pt.time_ms, pt.compute_ms, pt.comm_ms,
                  pt.comm_ms > 0 ? pt.compute_ms / pt.comm_ms : 0.0, speedup);
      if (phase == cost::Phase::Decode) std::printf(" %12.4f", pt.weights_ms);
      std::printf("\n");
    }
    int crossed = -1;
    for (const TpPoint& pt : pts)
      if (crossed < 0 && pt.comm_ms > pt.compute_ms) crossed = pt.p;
    if (crossed > 0)
      std::printf("communication exceeds compute from p = %d", crossed);
    else
      std::printf("compute exceeds communication at every p");
    if (stop > 0)
      std::printf("; adding ranks stops shortening the %s at p = %d\n\n", phase == cost::Phase::Prefill ? "prefill" : "step",
                  stop);
    else
      std::printf("; every doubling of p still shortens the %s\n\n", phase == cost::Phase::Prefill ? "prefill" : "step");
  }
  // The scaling book's rule in the model's terms: the MLP is compute-bound while F / p exceeds the break-even F / Y.
  const auto& d = cost::model_catalog().decoder(decoder).shape;
  const double F = d.gated_mlp ? 1.5 * static_cast<double>(d.intermediate) : static_cast<double>(d.intermediate);
  std::printf("The rule of thumb: an MLP of width F on p ranks is compute-bound while F / p exceeds the F / Y at which\n"
              "its matmuls take as long as its all-reduce (validation row 8), here at T = 2048, H = %lld. %s's\n"
              "gated MLP (3 matmuls of width %lld) does the work of a GELU MLP of width F = %.0f:\n",
              static_cast<long long>(d.hidden), decoder.c_str(), static_cast<long long>(d.intermediate), F);
  for (const auto& [name, Y] : {std::pair<const char*, int>{"h100-sxm", 2}, {"h100-sxm", 4}, {"h100-sxm", 8},
                                {"h100-sxm-2node-ib", 16}}) {
    const double even = mlp_break_even_f_per_rank(cost::hardware_profile(name), Y, 2048, d.hidden);
    const double have = F / Y;
    std::printf("  p = %2d on %-18s break-even F / p = %6.0f; %s has F / p = %6.0f: %s\n", Y, name, even,
                decoder.c_str(), have, have > even ? "compute-bound" : "communication-bound");
  }
  std::printf("(the MLP alone: each block's attention adds a second all-reduce of the same size for about half the\n"
              "MLP's weight-matmul work (4 H^2 against 3 H I), so the whole block turns communication-bound earlier,\n"
              "as the tables above show)\n\n");
}

}  // namespace atp::ch10
