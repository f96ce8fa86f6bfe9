/// \file bit_invariant_tp_gpu.cpp
/// \brief Chapter 11, GPU half: one rank of p real processes running the
/// chapter's layers in the blocked tree order (and the SwiGLU MLP once more
/// in rank order), dumping the tensors the CPU binary dumps, under the same
/// names, so atp-compare can check every bit.
///
/// Run: `atp-launch -p 4 -- atp-ch11-bit-invariant-tp-gpu [--tokens 8] [--hidden 96] [--intermediate 192]
///       [--heads 24] [--kv-heads 24] [--vocab 200] [--segments 8] [--seed 2026] [--dump DIR] [--bench]
///       [--decoder-steps 4] [--checkpoint data/fortune-llama.bin]`
///
/// Legend as bit_invariant_tp.cpp. Each rank writes DIR/rank<r>/; rank 0 also
/// writes the masters. --bench times the tree-ordered and the canonical
/// down projection and all-reduce on this GPU (cudaEvent, median of 50) and
/// prints the ratios, for the price table of the chapter README. With
/// --decoder-steps > 0 every rank also runs chapter 7's decoder on the
/// checkpoint in the tree order (atp::cuda::ParallelDecoder, chapter 7's
/// --invariant) and dumps what invariant_decoder.hpp lists.
/// Designed to be bitwise equal to the simulator; verified on a GPU: not yet.
/// Leaves out: the ordinary-TP sweep and the narration (the CPU chapter tells that story).
#include "invariant_decoder.hpp"
#include "invariant_masters.hpp"
#include "invariant_pipeline.hpp"

#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/layers/parallel_attention.hpp"
#include "atp/cuda/layers/parallel_lm_head.hpp"
#include "atp/cuda/layers/parallel_mlp.hpp"
#include "atp/cuda/layers/vocab_parallel_log_softmax.hpp"
#include "atp/cuda/models/parallel_decoder.hpp"
#include "atp/cuda/ops.hpp"
#include "atp/cuda/worker.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/models/generation.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace cu = atp::cuda;
namespace sim = atp::sim;
using atp::Matrix;

namespace {

/// Median milliseconds of `runs` calls of f on comm's stream (after one warm-up).
template <class F>
float median_ms(cu::Communicator& comm, int runs, F&& f) {
  f();
  comm.wait("bench warm-up");
  std::vector<float> ms;
  cudaEvent_t a, b;
  ATP_CUDA_CHECK(cudaEventCreate(&a));
  ATP_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < runs; ++i) {
    ATP_CUDA_CHECK(cudaEventRecord(a, comm.stream()));
    f();
    ATP_CUDA_CHECK(cudaEventRecord(b, comm.stream()));
    ATP_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0.0f;
    ATP_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  ATP_CUDA_CHECK(cudaEventDestroy(a));
  ATP_CUDA_CHECK(cudaEventDestroy(b));
  std::nth_element(ms.begin(), ms.begin() + runs / 2, ms.end());
  return ms[static_cast<std::size_t>(runs / 2)];
}

/// The price on this GPU: the down projection's matmul (T, I) x (H, I)^T, and the (T, H) all-reduce.
void bench(cu::Communicator& comm, const atp::ch11::InvariantMasters& m, const atp::ch11::Sizes& s) {
  const int p = comm.world_size();
  const auto canon = cu::RowParallelLinear::from_master(m.W_down, nullptr, comm.rank(), p, {});
  cu::RowParallelOptions to;
  to.form = cu::AllReduceForm::Tree;
  to.tree_segments = s.segments;
  const auto tree = cu::RowParallelLinear::from_master(m.W_down, nullptr, comm.rank(), p, to);
  const cu::DeviceMatrix a = cu::to_device(Matrix::Ones(s.T, s.I / p));
  cu::DeviceMatrix y = cu::to_device(Matrix::Ones(s.T, s.H));
  const float mm_c = median_ms(comm, 50, [&] { (void)canon.partial_sum(comm, a); });
  const float mm_t = median_ms(comm, 50, [&] { (void)tree.partial_sum(comm, a); });
  const float ar_r = median_ms(comm, 50, [&] { cu::all_reduce(comm, y, cu::AllReduceForm::RankOrder); });
  const float ar_n = median_ms(comm, 50, [&] { cu::all_reduce(comm, y, cu::AllReduceForm::Native); });
  const float ar_t = median_ms(comm, 50, [&] { cu::all_reduce(comm, y, cu::AllReduceForm::Tree); });
  if (comm.rank() == 0)
    std::printf("bench (p=%d, T=%d, H=%d, I=%d, S=%d), median of 50, ms:\n"
                "  down-projection partial sum: canonical %.4f  tree %.4f  ratio %.2f\n"
                "  all-reduce (T, H): native %.4f  rank-order %.4f  tree %.4f  tree/native %.2f  tree/rank-order %.2f\n",
                p, s.T, s.H, s.I, s.segments, mm_c, mm_t, mm_t / mm_c, ar_n, ar_r, ar_t, ar_t / ar_n, ar_t / ar_r);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 11, GPU half: one rank of the tree-ordered layers (run under atp-launch)."};
  atp::ch11::Sizes s;
  int tp = 0;
  std::uint64_t seed = 2026;
  bool run_bench = false;
  std::string dump_dir;
  int decoder_steps = 4;
  std::string checkpoint = atp::ch11::kDecoderCheckpoint;
  app.add_option("--tp", tp, "expected number of ranks p (checked against atp-launch's; default: whatever it is)")
      ->check(CLI::Range(1, 64));
  app.add_option("--tokens", s.T, "tokens T")->check(CLI::Range(1, 1024));
  app.add_option("--hidden", s.H, "hidden size H")->check(CLI::Range(1, 4096));
  app.add_option("--intermediate", s.I, "intermediate size I")->check(CLI::Range(1, 16384));
  app.add_option("--heads", s.heads, "query heads")->check(CLI::Range(1, 256));
  app.add_option("--kv-heads", s.kv_heads, "key/value heads")->check(CLI::Range(1, 256));
  app.add_option("--vocab", s.V, "vocabulary size V")->check(CLI::Range(1, 1 << 20));
  app.add_option("--segments", s.segments, "tree segments S")->check(CLI::Range(1, 64));
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_option("--dump", dump_dir, "write this rank's tensors into DIR/rank<r>/ (.npy plus manifest.json)");
  app.add_flag("--bench", run_bench, "time the tree-ordered and canonical down projection and all-reduce");
  app.add_option("--decoder-steps", decoder_steps, "greedy steps of chapter 7's decoder in the tree order (0: none)")
      ->check(CLI::Range(0, 200));
  app.add_option("--checkpoint", checkpoint, "chapter 7's checkpoint");
  CLI11_PARSE(app, argc, argv);

  int rank = -1;
  try {
    cu::Communicator comm = cu::join_world(tp);
    rank = comm.rank();
    const int p = comm.world_size();
    const std::string why = atp::ch11::unsupported(s, p, sim::ReduceOrder::Tree);
    if (!why.empty()) throw std::invalid_argument(why);
    const auto m = atp::ch11::make_invariant_masters(s.T, s.H, s.I, s.heads, s.kv_heads, s.V, seed);
    std::unique_ptr<sim::Dumper> dump;
    if (!dump_dir.empty())
      dump = std::make_unique<sim::Dumper>(
          cu::rank_dump_dir(dump_dir, rank),
          nlohmann::json{{"chapter", 11}, {"p", p}, {"tokens", s.T}, {"hidden", s.H}, {"intermediate", s.I},
                         {"heads", s.heads}, {"kv_heads", s.kv_heads}, {"vocab", s.V}, {"segments", s.segments},
                         {"seed", seed}, {"decoder_steps", decoder_steps}, {"checkpoint", checkpoint},
                         {"side", "gpu"}});
    if (dump && rank == 0) {
      dump->add("x", m.x, "input");
      for (const auto& [name, w] : {std::pair{"W_gate", &m.W_gate}, {"W_up", &m.W_up}, {"b_up", &m.b_up},
                                    {"W_down", &m.W_down}, {"b_down", &m.b_down}, {"W_lm", &m.W_lm},
                                    {"Wq", &m.attn.Wq}, {"Wk", &m.attn.Wk}, {"Wv", &m.attn.Wv}, {"Wo", &m.attn.Wo},
                                    {"bq", &m.attn.bq}, {"bk", &m.attn.bk}, {"bv", &m.attn.bv}, {"bo", &m.attn.bo}})
        dump->add(name, *w, "weight");
    }
    auto put = [&](const std::string& name, const cu::DeviceMatrix& d, const char* role) {
      if (dump) dump->add(sim::Dumper::rank_name(name, rank), cu::to_host(d), role, rank);
    };
    const cu::DeviceMatrix x = cu::to_device(m.x);
    cu::ParallelMLPOptions tree;
    tree.form = cu::AllReduceForm::Tree;
    tree.tree_segments = s.segments;
    put("gelu_output", cu::ParallelMLP::from_master(m.W_up, m.b_up, m.W_down, m.b_down, rank, p, tree).forward(comm, x),
        "output");
    const cu::MLPForward f = cu::ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, rank, p, tree).forward_steps(comm, x);
    put("swiglu_output", f.output, "output");
    put("swiglu_partial_sums", f.partial_sum, "intermediate");
    cu::ParallelAttentionOptions ao;
    ao.causal = true;
    ao.form = cu::AllReduceForm::Tree;
    ao.tree_segments = s.segments;
    put("attention_output",
        cu::ParallelAttention::from_masters(m.attn, s.heads, s.kv_heads, rank, p, ao).forward(comm, x), "output");
    const cu::DeviceMatrix logits = cu::ParallelLMHead::from_master(m.W_lm, rank, p).local_logits(f.output, comm.stream());
    put("log_probs",
        cu::vocab_parallel_log_softmax(comm, logits, s.V, {sim::ReduceOrder::Tree, s.segments}), "output");
    put("ordinary_swiglu_output",
        cu::ParallelGatedMLP::from_master(m.W_gate, m.W_up, m.W_down, rank, p, {}).forward(comm, x), "output");
    if (decoder_steps > 0) {
      // Chapter 7's decoder with its --invariant options and this chapter's S, from this rank's own shard.
      const sim::Checkpoint ckpt = sim::Checkpoint::open(checkpoint);
      cu::DecoderOptions dopt;
      dopt.form = cu::AllReduceForm::Tree;
      dopt.tree_segments = s.segments;
      const cu::ParallelDecoder decoder = cu::ParallelDecoder::load(ckpt, comm, dopt);
      cu::DecoderState state = decoder.new_state(
          sim::generation_positions(static_cast<std::int64_t>(atp::ch11::kDecoderPrompt.size()), decoder_steps));
      const auto steps = cu::greedy_generate(comm, decoder, state, atp::ch11::kDecoderPrompt, decoder_steps);
      std::vector<std::int64_t> generated;
      std::vector<Matrix> rows;
      for (const auto& st : steps) {
        generated.push_back(st.token);
        rows.push_back(st.logits);  // every rank holds them: the decoder all-gathers its logits
      }
      const Matrix logits = atp::ch11::stack_rows(rows);
      if (dump && rank == 0) {
        dump->add_i64("decoder_generated", generated, "output");
        dump->add("decoder_logits", logits, "output");
      }
      put("decoder_log_probs",
          cu::vocab_parallel_log_softmax(comm, cu::to_device(atp::ch11::local_logits_of(logits, rank, p)),
                                         ckpt.config().vocab, {sim::ReduceOrder::Tree, s.segments}),
          "output");
    }
    if (dump) dump->finish();
    if (run_bench) bench(comm, m, s);
    if (rank == 0)
      std::printf("Chapter 11 (GPU): tree order, p=%d, T=%d, H=%d, I=%d, S=%d, seed=%llu: ran on %s%s\n", p, s.T, s.H,
                  s.I, s.segments, static_cast<unsigned long long>(seed), comm.describe().c_str(),
                  dump ? ", tensors dumped" : "");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-ch11-bit-invariant-tp-gpu (rank %d): %s\n", rank, e.what());
    return 1;
  }
  return 0;
}
