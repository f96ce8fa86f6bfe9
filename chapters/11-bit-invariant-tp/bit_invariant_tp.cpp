/// \file bit_invariant_tp.cpp
/// \brief Chapter 11: bit-invariant tensor parallelism on p simulated ranks.
/// Ordinary TP first (the same layers at tp 1, 2, 4, 8 give different bits:
/// the ulp histogram), then the blocked tree order (one balanced tree per dot
/// product, its lower levels on each rank and its upper levels in the tree
/// all-reduce) and its invariance (one digest for every tp), then its price
/// in bytes, steps and additions, and its accuracy.
///
/// Run: `atp-ch11-bit-invariant-tp [--tp 4] [--tokens 8] [--hidden 96] [--intermediate 192]
///       [--heads 24] [--kv-heads 24] [--vocab 200] [--segments 8] [--seed 2026] [--narrate] [--dump DIR]
///       [--decoder-steps 4] [--checkpoint data/fortune-llama.bin]`
///
/// Legend: T = tokens, H = hidden, I = intermediate, V = vocabulary, S = tree
/// segments, p = ranks. Dumped tensors (at --tp, tree order; the GPU worker
/// writes the same names, except the CPU-only dense_tree_*):
///
///     x, W_gate, W_up, b_up, W_down, b_down, W_lm, Wq, Wk, Wv, Wo, bq, bk, bv, bo   masters
///     gelu_output.rank<r>, swiglu_output.rank<r>, attention_output.rank<r> (T, H)
///     swiglu_partial_sums.rank<r> (T, H): rank r's subtree roots, the tree all-reduce's inputs
///     log_probs.rank<r> (T, V_pad/p), padding ids -inf
///     ordinary_swiglu_output.rank<r> (T, H): the same MLP in rank order
///     dense_tree_swiglu_output (T, H): atp::linear_tree on one device
///     decoder_generated, decoder_logits, decoder_log_probs.rank<r>: chapter 7's
///         checkpoint in the tree order (invariant_decoder.hpp), with --decoder-steps > 0
///
/// Leaves out: the GPU half (bit_invariant_tp_gpu.cpp), chapter 7's reports
/// (atp-ch07-tensor-parallel-decoder --invariant --all-tp prints them).
#include "decoder_section.hpp"
#include "invariant_decoder.hpp"
#include "invariant_masters.hpp"
#include "invariant_pipeline.hpp"

#include "atp/dense_reference.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/matmul_tree.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/golden.hpp"
#include "atp/ulp.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace sim = atp::sim;
using atp::Matrix;
using atp::ch11::Pipeline;
using atp::ch11::Sizes;

namespace {

const std::vector<int> kInvariantTps = {1, 2, 4, 8};

std::string digest(const Matrix& m) { return sim::digest_matrix(m).fnv1a64; }

/// Rank 0's copy of each (T, H) output, and the joined log-probabilities: what a reader compares.
struct Joined {
  Matrix gelu, swiglu, attention, log_probs;
};
Joined joined(const Pipeline& pl, std::int64_t V) {
  return {pl.gelu[0], pl.swiglu[0], pl.attention[0], atp::ch11::joined_log_probs(pl, V)};
}

/// Counts of ulp distances in the buckets 0, 1, 2-3, 4-15, 16-255, >= 256.
std::array<std::size_t, 6> ulp_histogram(const Matrix& a, const Matrix& b) {
  std::array<std::size_t, 6> h{};
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    const std::uint32_t u = atp::ulp_distance(a.data()[i], b.data()[i]);
    h[u == 0 ? 0 : u == 1 ? 1 : u < 4 ? 2 : u < 16 ? 3 : u < 256 ? 4 : 5]++;
  }
  return h;
}

/// Per token: the largest log-probability minus the second largest.
float min_top2_gap(const Matrix& lp) {
  float gap = atp::detail::inf();
  for (Eigen::Index t = 0; t < lp.rows(); ++t) {
    float a = -atp::detail::inf(), b = a;
    for (Eigen::Index j = 0; j < lp.cols(); ++j) {
      const float v = lp(t, j);
      if (v > a) {
        b = a;
        a = v;
      } else if (v > b) {
        b = v;
      }
    }
    gap = std::min(gap, a - b);
  }
  return gap;
}

/// Section 1: ordinary TP at several p, against tp = 1.
void ordinary_tp(const Sizes& s, const atp::ch11::InvariantMasters& m, int requested_p) {
  std::printf("1. Ordinary tensor parallelism: the same layers, different bits at every tp\n\n");
  std::vector<int> tps = kInvariantTps;
  if (std::find(tps.begin(), tps.end(), requested_p) == tps.end()) tps.push_back(requested_p);
  sim::World w1(1);
  const Joined base = joined(atp::ch11::run_pipeline(w1, m, s, sim::ReduceOrder::RankOrder), s.V);
  std::printf("   Each row: how many elements differ from tp = 1 (rank-order all-reduce), and the largest ulp distance.\n\n");
  std::printf("   %-4s  %-20s %-20s %-20s %-20s\n", "tp", "GELU MLP (T, H)", "SwiGLU MLP (T, H)", "attention (T, H)",
              "log-probs (T, V)");
  Joined widest;
  int widest_p = 1;
  for (int p : tps) {
    if (p == 1) continue;
    const std::string why = atp::ch11::unsupported(s, p, sim::ReduceOrder::RankOrder);
    if (!why.empty()) {
      std::printf("   %-4d  skipped: %s\n", p, why.c_str());
      continue;
    }
    sim::World w(p);
    const Joined j = joined(atp::ch11::run_pipeline(w, m, s, sim::ReduceOrder::RankOrder), s.V);
    auto cell = [](const Matrix& a, const Matrix& b) {
      if (a.size() == 0) return std::string("n/a: tp does not divide V_pad");
      const auto r = atp::compare_bitwise(a, b);
      char buf[64];
      std::snprintf(buf, sizeof buf, "%zu/%zu, max %u", r.differing, r.count, r.max_ulp);
      return std::string(buf);
    };
    std::printf("   %-4d  %-20s %-20s %-20s %-20s\n", p, cell(j.gelu, base.gelu).c_str(),
                cell(j.swiglu, base.swiglu).c_str(), cell(j.attention, base.attention).c_str(),
                cell(j.log_probs, base.log_probs).c_str());
    if (j.log_probs.size() > 0 && p > widest_p) {
      widest = j;
      widest_p = p;
    }
  }
  if (widest_p > 1) {
    const auto h = ulp_histogram(widest.log_probs, base.log_probs);
    std::printf("\n   ulp histogram of the log-probs, tp = %d vs tp = 1 (%lld elements):\n"
                "     0 ulp: %zu   1: %zu   2-3: %zu   4-15: %zu   16-255: %zu   >=256: %zu\n", widest_p,
                static_cast<long long>(widest.log_probs.size()), h[0], h[1], h[2], h[3], h[4], h[5]);
    std::printf("   largest |difference| %.3g; smallest top-1 minus top-2 gap of any token %.3g\n\n",
                (widest.log_probs - base.log_probs).cwiseAbs().maxCoeff(), min_top2_gap(base.log_probs));
  }
  std::printf("   Column-parallel layers split no sum, so only the row-parallel sums (the MLPs' down\n"
              "   projections, attention's output projection) and the log-softmax's sum of exponentials\n"
              "   move bits; the differences then travel into everything computed from them.\n\n");
}

/// Section 2: the tree for p, and one output element of the SwiGLU down projection, level by level.
void the_tree(const Sizes& s, const atp::ch11::InvariantMasters& m, int p, sim::World& world) {
  std::printf("2. The blocked tree order (S = %d segments of %d of the I = %d terms), at tp = %d\n\n", s.segments,
              s.I / s.segments, s.I, p);
  const int per = s.segments / p;
  for (int r = 0; r < p; ++r)
    std::printf("   rank %d: columns [%d, %d) of W_down = segments %d..%d: %d lower level(s) on the rank\n", r,
                r * s.I / p, (r + 1) * s.I / p, r * per, (r + 1) * per - 1, atp::log2_exact(per));
  std::printf("   then %d upper level(s) in the tree all-reduce (rank r swaps with r XOR 2^j at level j)\n\n",
              atp::log2_exact(p));
  // Element (0, 0) of y = a W_down^T, a the activated intermediate of the SwiGLU MLP.
  const auto gated = sim::ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, p, {});
  sim::World scratch(p);
  const Matrix a = sim::concat_cols(gated.forward_steps(scratch, sim::replicate(m.x, p), "g").activated);
  const int L = s.I / s.segments;
  std::vector<float> v(static_cast<std::size_t>(s.segments));
  for (int seg = 0; seg < s.segments; ++seg) v[static_cast<std::size_t>(seg)] = atp::dot(&a(0, seg * L), &m.W_down(0, seg * L), L);
  std::printf("   y(0, 0) of the SwiGLU down projection; leaves (fma chains over %d terms each):\n     ", L);
  for (float x : v) std::printf("%.9g  ", static_cast<double>(x));
  std::printf("\n");
  for (int width = 1; width < s.segments; width *= 2) {
    atp::tree_level(v.data(), s.segments, width);
    std::printf("   level %d (%s):", atp::log2_exact(width) + 1, width < per ? "on each rank" : "tree all-reduce");
    for (int i = 0; i < s.segments; i += 2 * width) std::printf("  %.9g", static_cast<double>(v[static_cast<std::size_t>(i)]));
    std::printf("\n");
  }
  sim::ParallelMLPOptions tree;
  tree.order = sim::ReduceOrder::Tree;
  tree.tree_segments = s.segments;
  const auto y = sim::ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, p, tree)
                     .forward_steps(world, sim::replicate(m.x, p), "swiglu_mlp");
  const Matrix ordinary = gated.forward(scratch, sim::replicate(m.x, p), "g")[0];
  std::printf("   the layer's y(0, 0) on rank %d: %.9g (0x%08x); rank order gives %.9g (0x%08x)\n\n", p - 1,
              static_cast<double>(y.output[p - 1](0, 0)), atp::float_bits(y.output[p - 1](0, 0)),
              static_cast<double>(ordinary(0, 0)), atp::float_bits(ordinary(0, 0)));
}

/// Section 3: one digest per tensor for every tp the tree admits.
void invariance(const Sizes& s, const atp::ch11::InvariantMasters& m) {
  std::printf("3. Invariance: digests (fnv1a64 of the bits) at tp = 1, 2, 4, 8 in the tree order\n\n");
  std::printf("   %-4s  %-17s %-17s %-17s %-17s\n", "tp", "GELU MLP", "SwiGLU MLP", "attention", "log-probs");
  std::vector<Joined> all;
  for (int p : kInvariantTps) {
    const std::string why = atp::ch11::unsupported(s, p, sim::ReduceOrder::Tree);
    if (!why.empty()) {
      std::printf("   %-4d  skipped: %s\n", p, why.c_str());
      continue;
    }
    sim::World w(p);
    all.push_back(joined(atp::ch11::run_pipeline(w, m, s, sim::ReduceOrder::Tree), s.V));
    const Joined& j = all.back();
    std::printf("   %-4d  %-17s %-17s %-17s %-17s\n", p, digest(j.gelu).c_str(), digest(j.swiglu).c_str(),
                digest(j.attention).c_str(), digest(j.log_probs).c_str());
  }
  bool same = !all.empty();
  for (const Joined& j : all)
    same = same && digest(j.gelu) == digest(all[0].gelu) && digest(j.swiglu) == digest(all[0].swiglu) &&
           digest(j.attention) == digest(all[0].attention) && digest(j.log_probs) == digest(all[0].log_probs);
  Matrix gu(m.x.rows(), 2 * s.I);
  gu << atp::linear(m.x, m.W_gate, nullptr), atp::linear(m.x, m.W_up, nullptr);
  const Matrix dense = atp::linear_tree(sim::swiglu(gu), m.W_down, nullptr, s.segments);
  std::printf("   dense %-17s %-17s (one device: atp::linear_tree of the SwiGLU MLP)\n", "", digest(dense).c_str());
  std::printf("\n   every tp the same bits: %s; the dense tree-ordered MLP too: %s\n\n", same ? "yes" : "NO",
              !all.empty() && digest(dense) == digest(all[0].swiglu) ? "yes" : "NO");
}

/// Section 4: what the tree order costs in communication and additions (from the trace).
void price(const Sizes& s) {
  std::printf("4. The price, from the trace: one all-reduce of the SwiGLU output (T, H) = (%d, %d)\n\n", s.T, s.H);
  std::printf("   %-4s %-30s %-30s %-30s\n", "tp", "rank order (all-gather + sum)", "ring (one channel)",
              "tree (recursive doubling)");
  for (int p : {2, 4, 8}) {
    auto bytes_steps = [&](sim::ReduceOrder order) {
      sim::World w(p);
      sim::all_reduce(w, sim::replicate(Matrix::Zero(s.T, s.H), p), order, "y");
      const int steps = order == sim::ReduceOrder::Ring ? 2 * (p - 1) : order == sim::ReduceOrder::Tree ? atp::log2_exact(p) : p - 1;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%lld B in %d step(s)", static_cast<long long>(w.trace().bytes_sent(0)), steps);
      return std::string(buf);
    };
    std::printf("   %-4d %-30s %-30s %-30s\n", p, bytes_steps(sim::ReduceOrder::RankOrder).c_str(),
                bytes_steps(sim::ReduceOrder::Ring).c_str(), bytes_steps(sim::ReduceOrder::Tree).c_str());
  }
  std::printf("\n   (bytes sent per rank; the rank-order form gathers all p inputs, the ring sends 2(p-1)/p of\n"
              "   them, the tree one full copy per level: log2 p.) The matmul does the same 2 T H I flops in\n"
              "   any order; the tree adds S - 1 = %d sums of (T, H) partials where the canonical chain adds\n"
              "   none, (S/p - 1) of them on each rank. CPU time: `BENCH=bench_invariant scripts/bench.sh`\n"
              "   (bench/bench_invariant.cpp), whose ratios bench/README.md quotes.\n\n", s.segments - 1);
}

/// Section 5: both orders against float64.
void accuracy(const atp::ch11::InvariantMasters& m, const Pipeline& tree, const Pipeline& ordinary) {
  std::printf("5. Accuracy: both orders against the float64 SwiGLU MLP\n\n");
  const atp::MatrixD x = atp::to_double(m.x);
  const atp::MatrixD act = atp::silu_ref(atp::linear_ref(x, atp::to_double(m.W_gate), nullptr))
                               .cwiseProduct(atp::linear_ref(x, atp::to_double(m.W_up), nullptr));
  const atp::MatrixD ref = atp::linear_ref(act, atp::to_double(m.W_down), nullptr);
  std::printf("   max |error|: tree order %.3g, rank order %.3g (max |y| %.3g): the tree is not less accurate;\n"
              "   its worst-case bound grows with log2 S + I/S instead of I terms.\n\n",
              atp::max_abs_error(tree.swiglu[0], ref), atp::max_abs_error(ordinary.swiglu[0], ref),
              ref.cwiseAbs().maxCoeff());
}

void dump_run(const std::string& dir, const Sizes& s, std::uint64_t seed, int p,
              const atp::ch11::InvariantMasters& m, const Pipeline& tree, const Pipeline& ordinary,
              int decoder_steps, const std::string& checkpoint) {
  sim::Dumper d(dir, nlohmann::json{{"chapter", 11}, {"p", p}, {"tokens", s.T}, {"hidden", s.H},
                                    {"intermediate", s.I}, {"heads", s.heads}, {"kv_heads", s.kv_heads},
                                    {"vocab", s.V}, {"segments", s.segments}, {"seed", seed},
                                    {"decoder_steps", decoder_steps}, {"checkpoint", checkpoint}});
  d.add("x", m.x, "input");
  for (const auto& [name, w] : {std::pair{"W_gate", &m.W_gate}, {"W_up", &m.W_up}, {"b_up", &m.b_up},
                                {"W_down", &m.W_down}, {"b_down", &m.b_down}, {"W_lm", &m.W_lm}, {"Wq", &m.attn.Wq},
                                {"Wk", &m.attn.Wk}, {"Wv", &m.attn.Wv}, {"Wo", &m.attn.Wo}, {"bq", &m.attn.bq},
                                {"bk", &m.attn.bk}, {"bv", &m.attn.bv}, {"bo", &m.attn.bo}})
    d.add(name, *w, "weight");
  d.add_per_rank("gelu_output", tree.gelu, "output");
  d.add_per_rank("swiglu_output", tree.swiglu, "output");
  d.add_per_rank("swiglu_partial_sums", tree.down_partials, "intermediate");
  d.add_per_rank("attention_output", tree.attention, "output");
  d.add_per_rank("log_probs", tree.log_probs, "output");
  d.add_per_rank("ordinary_swiglu_output", ordinary.swiglu, "output");
  Matrix gu(m.x.rows(), 2 * s.I);
  gu << atp::linear(m.x, m.W_gate, nullptr), atp::linear(m.x, m.W_up, nullptr);
  d.add("dense_tree_swiglu_output", atp::linear_tree(sim::swiglu(gu), m.W_down, nullptr, s.segments), "reference");
  if (decoder_steps > 0)
    atp::ch11::dump_decoder_run(d, atp::ch11::run_invariant_decoder(checkpoint, p, decoder_steps, s.segments));
  d.finish();
  std::printf("Wrote the dump to %s\n", dir.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 11: bit-invariant tensor parallelism (the blocked tree order) on p simulated ranks."};
  Sizes s;
  int p = 4;
  std::uint64_t seed = 2026;
  bool narrate = false;
  std::string dump_dir;
  int decoder_steps = 4;
  std::string checkpoint = atp::ch11::kDecoderCheckpoint;
  app.add_option("--tp", p, "number of ranks p for the detailed sections (the sweeps run 1, 2, 4, 8)")
      ->check(CLI::Range(1, 64));
  app.add_option("--tokens", s.T, "tokens T")->check(CLI::Range(1, 1024));
  app.add_option("--hidden", s.H, "hidden size H (heads must divide it)")->check(CLI::Range(1, 4096));
  app.add_option("--intermediate", s.I, "intermediate size I")->check(CLI::Range(1, 16384));
  app.add_option("--heads", s.heads, "query heads")->check(CLI::Range(1, 256));
  app.add_option("--kv-heads", s.kv_heads, "key/value heads")->check(CLI::Range(1, 256));
  app.add_option("--vocab", s.V, "vocabulary size V (padded to a multiple of 64)")->check(CLI::Range(1, 1 << 20));
  app.add_option("--segments", s.segments, "tree segments S (a power of two; 8 admits tp 1, 2, 4, 8)")
      ->check(CLI::Range(1, 64));
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_flag("--narrate", narrate, "print what every rank holds at every step of the tree-ordered MLP");
  app.add_option("--dump", dump_dir, "write the tree-order run at --tp as .npy plus manifest.json into this folder");
  app.add_option("--decoder-steps", decoder_steps,
                 "greedy steps of chapter 7's decoder in the tree order on --checkpoint (0: skip section 7)")
      ->check(CLI::Range(0, 200))
      ->capture_default_str();
  app.add_option("--checkpoint", checkpoint, "chapter 7's checkpoint for section 7")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    if (s.H % s.heads != 0)
      throw std::invalid_argument("hidden size " + std::to_string(s.H) + " is not a multiple of " +
                                  std::to_string(s.heads) + " heads");
    std::printf("Chapter 11: bit-invariant tensor parallelism (T=%d, H=%d, I=%d, heads %d/%d, V=%lld, S=%d, "
                "seed=%llu, --tp %d)\n\n", s.T, s.H, s.I, s.heads, s.kv_heads, static_cast<long long>(s.V),
                s.segments, static_cast<unsigned long long>(seed), p);
    const auto m = atp::ch11::make_invariant_masters(s.T, s.H, s.I, s.heads, s.kv_heads, s.V, seed);
    ordinary_tp(s, m, p);
    const std::string why = atp::ch11::unsupported(s, p, sim::ReduceOrder::Tree);
    sim::World world(why.empty() ? p : 1);
    if (narrate && why.empty()) world.narrate_to(std::cout);
    if (why.empty())
      the_tree(s, m, p, world);
    else
      std::printf("2. The blocked tree order at tp = %d: skipped. %s\n\n", p, why.c_str());
    world.stop_narrating();
    invariance(s, m);
    price(s);
    const int q = why.empty() ? p : 1;
    sim::World wt(q), wo(q);
    const Pipeline tree = atp::ch11::run_pipeline(wt, m, s, sim::ReduceOrder::Tree);
    const Pipeline ordinary = atp::ch11::run_pipeline(wo, m, s, sim::ReduceOrder::RankOrder);
    accuracy(m, tree, ordinary);
    if (decoder_steps > 0 && !atp::ch11::print_decoder_invariance(checkpoint, decoder_steps, s.segments)) {
      std::fprintf(stderr, "error: the tree-ordered decoder gave different bits at different tp (section 7)\n");
      return 1;
    }
    if (!dump_dir.empty()) {
      if (!why.empty()) throw std::invalid_argument("--dump needs a tp the tree order admits: " + why);
      dump_run(dump_dir, s, seed, p, m, tree, ordinary, decoder_steps, checkpoint);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
