/// \file bench_decoder.cpp
/// \brief What simulating p ranks costs: chapter 7's decoder on the simulator
///        at p = 1, 2, 4, 8 against a dense single-device fp32 decoder on the
///        same weights, same thread, same run.
///
/// Run: `cmake --build build --target bench_decoder && build/bench/bench_decoder [--repetitions 5]`
///
/// Two models: the shipped data/fortune-llama.bin (H 64, 5 blocks: tiny
/// matmuls, so bookkeeping shows) and a synthetic 2-block Llama at H 1024
/// (I 2816, 16 heads, 8 KV heads, V 1024: the matmuls dominate). Each
/// generates the same tokens (a prefill, then decode steps). The dense
/// decoder below is the single-device program: plain matrices, no ranks, no
/// trace, no collectives, calling the same shared numerics (atp::linear,
/// atp::rmsnorm_row, atp::rope_rotate_pair, sim::attention_head, sim::swiglu).
/// Before timing, its logits are checked bitwise against the simulator at
/// p = 1 (where every collective is the identity), so both compute the same
/// thing. Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), median
/// of interleaved repetitions. Prints, per model and p, median milliseconds and
///
///     simulator overhead p=<p>: <simulated time / dense time>
///
/// Left out: threads (the matmul is single-threaded; bench/README.md), GPU timing.
#include "atp/matmul_cpu.hpp"
#include "atp/numerics.hpp"
#include "atp/rotary.hpp"
#include "atp/sim/layers/parallel_attention.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/models/generation.hpp"
#include "atp/sim/models/parallel_decoder.hpp"
#include "atp/sim/models/synthetic_decoder.hpp"
#include "atp/ulp.hpp"

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace sim = atp::sim;
using atp::Matrix;

namespace {

/// The single-device Llama decoder (no ranks): the benchmark's baseline.
class DenseLlama {
 public:
  explicit DenseLlama(const sim::Checkpoint& c) : cfg_(c.config()), ckpt_(c) {
    embed_ = c.read("model.embed_tokens.weight");
    final_norm_ = c.read("model.norm.weight");
    for (int l = 0; l < cfg_.layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      Layer L;
      L.n1 = c.read(p + "input_layernorm.weight");
      L.n2 = c.read(p + "post_attention_layernorm.weight");
      L.wq = c.read(p + "self_attn.q_proj.weight");
      L.wk = c.read(p + "self_attn.k_proj.weight");
      L.wv = c.read(p + "self_attn.v_proj.weight");
      L.wo = c.read(p + "self_attn.o_proj.weight");
      // gate and up stacked as one weight, as a single device would store them.
      const Matrix g = c.read(p + "mlp.gate_proj.weight"), u = c.read(p + "mlp.up_proj.weight");
      L.gate_up.resize(g.rows() + u.rows(), g.cols());
      L.gate_up << g, u;
      L.down = c.read(p + "mlp.down_proj.weight");
      layers_.push_back(std::move(L));
    }
    const int d = cfg_.head_dim(), half = d / 2;
    cos_.resize(cfg_.max_seq_len, half);
    sin_.resize(cfg_.max_seq_len, half);
    for (int pos = 0; pos < cfg_.max_seq_len; ++pos)
      for (int i = 0; i < half; ++i) atp::rope_cos_sin(pos, i, d, cfg_.rope_theta, &cos_(pos, i), &sin_(pos, i));
  }

  /// Greedy generation; returns every step's logits (1, V).
  std::vector<Matrix> generate(const std::vector<std::int64_t>& prompt, int steps) {
    k_.assign(static_cast<std::size_t>(cfg_.layers), Matrix(0, 0));
    v_.assign(static_cast<std::size_t>(cfg_.layers), Matrix(0, 0));
    std::vector<Matrix> out;
    std::vector<std::int64_t> input = prompt;
    int pos = 0;
    for (int s = 0; s < steps; ++s) {
      Matrix x(static_cast<Eigen::Index>(input.size()), cfg_.hidden);
      for (std::size_t t = 0; t < input.size(); ++t) x.row(static_cast<Eigen::Index>(t)) = embed_.row(input[t]);
      for (int l = 0; l < cfg_.layers; ++l) x = block(l, x, pos);
      const Matrix h = norm(Matrix(x.bottomRows(1)), final_norm_);
      out.push_back(atp::matmul_nt(h, embed_));
      pos += static_cast<int>(input.size());
      input = {sim::dense_argmax(out.back())[0]};
    }
    return out;
  }

 private:
  struct Layer {
    Matrix n1, n2, wq, wk, wv, wo, gate_up, down;
  };

  Matrix norm(const Matrix& x, const Matrix& w) const {
    Matrix y(x.rows(), x.cols());
    for (Eigen::Index t = 0; t < x.rows(); ++t)
      atp::rmsnorm_row(x.row(t).data(), w.data(), cfg_.norm_eps, y.row(t).data(), static_cast<int>(x.cols()));
    return y;
  }

  void rope(Matrix& x, int first) const {
    const int d = cfg_.head_dim();
    for (Eigen::Index t = 0; t < x.rows(); ++t)
      for (Eigen::Index c = 0; c < x.cols(); c += 2) {
        const int i = static_cast<int>((c % d) / 2);
        float y0, y1;
        atp::rope_rotate_pair(x(t, c), x(t, c + 1), cos_(first + t, i), sin_(first + t, i), &y0, &y1);
        x(t, c) = y0;
        x(t, c + 1) = y1;
      }
  }

  Matrix block(int l, const Matrix& x, int pos) {
    Layer& L = layers_[static_cast<std::size_t>(l)];
    const int d = cfg_.head_dim(), group = cfg_.heads / cfg_.kv_heads;
    const Matrix h = norm(x, L.n1);
    Matrix q = atp::linear(h, L.wq, nullptr), k = atp::linear(h, L.wk, nullptr);
    const Matrix v = atp::linear(h, L.wv, nullptr);
    rope(q, pos);
    rope(k, pos);
    Matrix& K = k_[static_cast<std::size_t>(l)];
    Matrix& V = v_[static_cast<std::size_t>(l)];
    K.conservativeResize(pos + k.rows(), k.cols());
    V.conservativeResize(pos + v.rows(), v.cols());
    K.bottomRows(k.rows()) = k;
    V.bottomRows(v.rows()) = v;
    Matrix ctx(x.rows(), static_cast<Eigen::Index>(cfg_.heads) * d);
    for (int hq = 0; hq < cfg_.heads; ++hq) {
      const int g = hq / group;
      ctx.middleCols(hq * d, d) = sim::attention_head(q.middleCols(hq * d, d), K.middleCols(g * d, d),
                                                      V.middleCols(g * d, d), true, pos)
                                      .context;
    }
    const Matrix x1 = x + atp::linear(ctx, L.wo, nullptr);
    const Matrix a = sim::swiglu(atp::linear(norm(x1, L.n2), L.gate_up, nullptr));
    return x1 + atp::linear(a, L.down, nullptr);
  }

  sim::DecoderConfig cfg_;
  const sim::Checkpoint& ckpt_;
  Matrix embed_, final_norm_, cos_, sin_;
  std::vector<Layer> layers_;
  std::vector<Matrix> k_, v_;
};

/// CPU seconds this thread spent in f: on a machine shared with other work (CI, builds) wall time counts the
/// time other processes hold the core; the thread's own CPU time does not.
double seconds(const std::function<void()>& f) {
  timespec a{}, b{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  f();
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
  return static_cast<double>(b.tv_sec - a.tv_sec) + 1e-9 * static_cast<double>(b.tv_nsec - a.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void bench_model(const std::string& name, const sim::Checkpoint& c, const std::vector<std::int64_t>& prompt,
                 int steps, int repetitions) {
  DenseLlama dense(c);
  // Same work: the dense logits must equal the simulator's at p = 1 bit for bit (an identity all-reduce).
  {
    sim::World world(1);
    const auto decoder = sim::ParallelDecoder::load(c, 1);
    sim::DecoderState state = decoder.new_state(sim::generation_positions(static_cast<std::int64_t>(prompt.size()), steps));
    const auto run = sim::greedy_generate(world, decoder, state, prompt, steps);
    const auto ref = dense.generate(prompt, steps);
    for (int s = 0; s < steps; ++s)
      if (!atp::compare_bitwise(ref[static_cast<std::size_t>(s)], run.steps[static_cast<std::size_t>(s)].logits).equal()) {
        std::fprintf(stderr, "bench_decoder: the dense decoder and the simulator at p = 1 differ at step %d\n", s);
        std::exit(1);
      }
  }
  std::printf("%s: %s, prompt %zu tokens, %d steps, %d repetitions (medians)\n\n   %2s  %14s  %10s  %8s\n",
              name.c_str(), c.config().describe().c_str(), prompt.size(), steps, repetitions, "p", "simulated ms",
              "dense ms", "ratio");
  std::vector<std::pair<int, double>> ratios;
  for (int p : {1, 2, 4, 8}) {
    const auto decoder = sim::ParallelDecoder::load(c, p);
    std::vector<double> sim_t, dense_t;
    for (int r = 0; r < repetitions; ++r) {  // interleaved, so load from other processes hits both alike
      sim_t.push_back(seconds([&] {
        sim::World world(p);
        sim::DecoderState state =
            decoder.new_state(sim::generation_positions(static_cast<std::int64_t>(prompt.size()), steps));
        sim::greedy_generate(world, decoder, state, prompt, steps);
      }));
      dense_t.push_back(seconds([&] { dense.generate(prompt, steps); }));
    }
    const double s = median(sim_t), d = median(dense_t);
    std::printf("   %2d  %14.2f  %10.2f  %8.3f\n", p, 1e3 * s, 1e3 * d, s / d);
    ratios.push_back({p, s / d});
  }
  std::printf("\n");
  for (const auto& [p, r] : ratios) std::printf("simulator overhead p=%d: %.3f\n", p, r);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  int repetitions = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repetitions") == 0 && i + 1 < argc) {
      repetitions = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench_decoder [--repetitions N]  (N >= 1; got '%s')\n", argv[i]);
      return 2;
    }
  }
  if (repetitions < 1) {
    std::fprintf(stderr, "bench_decoder: --repetitions %d must be >= 1\n", repetitions);
    return 2;
  }
  // The times are the calling thread's CPU time: run with ATP_THREADS=1 so the matmul's workers are not missed.
  std::printf("bench_decoder: chapter 7's decoder on p simulated ranks against a dense single-device decoder,\n"
              "matmul on up to %d thread(s) (ATP_THREADS=1 for the single-thread numbers), kernel %s\n\n",
              atp::detail::matmul_threads(),
              atp::detail::matmul_kernel_description(atp::detail::matmul_kernel_in_use()).c_str());
  const sim::Checkpoint fortune = sim::Checkpoint::open(ATP_SOURCE_DIR "/data/fortune-llama.bin");
  bench_model("fortune-llama", fortune, {1, 84, 104, 101, 32}, 32, repetitions);
  sim::DecoderConfig big;
  big.hidden = 1024;
  big.intermediate = 2816;
  big.layers = 2;
  big.heads = 16;
  big.kv_heads = 8;
  big.vocab = 1024;
  big.max_seq_len = 64;
  const sim::Checkpoint synthetic = sim::synthetic_decoder_checkpoint(big, 7);
  std::vector<std::int64_t> prompt{1};
  for (int i = 0; i < 31; ++i) prompt.push_back(2 + (37 * i) % 1000);
  bench_model("synthetic 2-block Llama at hidden 1024", synthetic, prompt, 8, repetitions);
  return 0;
}
