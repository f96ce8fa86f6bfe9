/// \file decoder_report.cpp
/// \brief The printed tables of chapter 7 (see decoder_report.hpp).
#include "decoder_report.hpp"

#include "decoder_cli.hpp"

#include "atp/rotary_accuracy.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/layers/qkv_parallel_linear.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"
#include "atp/sim/models/decoder_memory.hpp"
#include "atp/sim/models/reference_weights.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace atp::ch07 {
namespace sim = atp::sim;
namespace {

std::string range_text(std::int64_t begin, std::int64_t end) {
  if (end <= begin) return "-";
  return end - begin == 1 ? std::to_string(begin) : std::to_string(begin) + ".." + std::to_string(end - 1);
}

/// The p in {1, 2, 4, 8} that the config admits.
std::vector<int> sweep_tps(const sim::DecoderConfig& c) {
  std::vector<int> out;
  for (int p : {1, 2, 4, 8}) {
    try {
      sim::check_decoder_tp(c, p);
      out.push_back(p);
    } catch (const std::invalid_argument&) {
    }
  }
  return out;
}

double gib(std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0); }

}  // namespace

void print_shard_reads(const sim::Checkpoint& checkpoint, const sim::World& world,
                       const sim::PerRank<sim::ReadCounter>& read) {
  std::int64_t tensor_bytes = 0;
  for (const auto& t : checkpoint.tensors()) tensor_bytes += t.bytes;
  std::printf("1. The checkpoint, and what each rank reads of it\n\n"
              "   %s: %s, %lld bytes, %zu tensors holding %lld bytes\n   %s\n\n",
              checkpoint.origin().c_str(), checkpoint.format().c_str(), static_cast<long long>(checkpoint.size_bytes()),
              checkpoint.tensors().size(), static_cast<long long>(tensor_bytes),
              checkpoint.config().describe().c_str());
  std::printf("   Every rank maps the file (mmap) and copies out only the blocks of its own shard:\n\n"
              "   %4s  %12s  %14s  %18s\n", "rank", "bytes read", "of the tensors", "weight bytes held");
  for (int r = 0; r < read.size(); ++r)
    std::printf("   %4d  %12lld  %13.1f%%  %18lld\n", r, static_cast<long long>(read[r].bytes),
                100.0 * static_cast<double>(read[r].bytes) / static_cast<double>(tensor_bytes),
                static_cast<long long>(world.memory().bytes(r, sim::MemoryKind::Weight)));
  std::printf("\n   Held exceeds read by the zero padding (vocabulary, FFN) and the rotary cos/sin cache,\n"
              "   which every rank computes instead of reading (the file's legacy RoPE tables are skipped).\n\n");
}

void print_ownership(const sim::ParallelDecoder& decoder) {
  const sim::DecoderConfig& c = decoder.config();
  const int p = decoder.p();
  const std::int64_t Ip = decoder.padded_intermediate(), i_r = Ip / p;
  std::printf("2. Which rank holds what (nH=%d, nKV=%d, d=%d, I=%d padded to %lld, V=%d padded to %lld)\n\n",
              c.heads, c.kv_heads, c.head_dim(), c.intermediate, static_cast<long long>(Ip), c.vocab,
              static_cast<long long>(sim::pad_vocab_size(c.vocab)));
  std::printf("   %4s  %-8s  %-18s  %-26s  %s\n", "rank", "Q heads", "KV heads", "FFN columns", "vocabulary ids");
  for (int r = 0; r < p; ++r) {
    const sim::HeadAssignment a = sim::head_assignment(c.heads, c.kv_heads, p, r);
    const std::int64_t f0 = r * i_r, f1 = f0 + i_r, real_end = std::min<std::int64_t>(f1, c.intermediate);
    std::string ffn = range_text(f0, real_end);
    if (real_end < f1) ffn += " + " + std::to_string(f1 - std::max(real_end, f0)) + " zero";
    const std::string kv = range_text(a.kv_heads.begin, a.kv_heads.end) +
                           (a.kv_replicas > 1 ? " (1 of " + std::to_string(a.kv_replicas) + " copies)" : "");
    const sim::VocabRange v = decoder.embedding().range(r);
    std::printf("   %4d  %-8s  %-18s  %-26s  %s\n", r, range_text(a.q_heads.begin, a.q_heads.end).c_str(), kv.c_str(),
                ffn.c_str(), range_text(v.start, v.end).c_str());
  }
  std::printf("\n   Norms, residuals and the rotary table are whole on every rank; RoPE rotates each rank's own\n"
              "   heads (a head never spans two ranks), so it needs no communication.\n\n");
}

void print_trace(const sim::World& world, const sim::ParallelDecoder& decoder, const sim::GenerationResult& result,
                 int detail_step) {
  const int L = decoder.config().layers;
  std::printf("4. The trace: collectives per token step (1 + 2L = %d all-reduces expected, L = %d)\n\n", 1 + 2 * L, L);
  std::printf("   %4s  %9s  %11s  %20s  %10s\n", "step", "tokens in", "all-reduces", "logits collectives",
              "broadcasts");
  bool all_ok = true;
  for (const auto& s : result.steps) {
    std::printf("   %4d  %9lld  %11lld  %20lld  %10lld\n", s.step, static_cast<long long>(s.tokens_in),
                static_cast<long long>(s.all_reduces), static_cast<long long>(s.logits_collectives),
                static_cast<long long>(s.broadcasts));
    all_ok = all_ok && s.all_reduces == 1 + 2 * L && s.logits_collectives == 1;
  }
  std::printf("\n   every step, prefill and decode: %d all-reduces (1 embedding + 2 per block) and 1 logits "
              "collective: %s\n\n",
              1 + 2 * L, all_ok ? "yes" : "NO");
  if (detail_step < 0 || detail_step >= static_cast<int>(result.steps.size())) return;
  const auto& s = result.steps[static_cast<std::size_t>(detail_step)];
  std::printf("   The collective timeline of step %d on rank 0 (the figure in the README draws it from --dump):\n\n"
              "   %3s  %-22s  %-34s  %-9s  %10s\n", detail_step, "#", "op", "label", "shape", "bytes sent");
  const auto& events = world.trace().events();
  int n = 0;
  std::int64_t matmuls = 0;
  for (std::int64_t i = s.trace_begin; i < s.trace_end; ++i) {
    const auto& e = events[static_cast<std::size_t>(i)];
    if (e.rank != 0) continue;
    if (e.op == sim::kMatmulOp) {
      ++matmuls;
      continue;
    }
    std::printf("   %3d  %-22s  %-34s  %-9s  %10lld\n", ++n, e.op.c_str(), e.label.c_str(),
                atp::shape_string(e.shape_in[0], e.shape_in[1]).c_str(), static_cast<long long>(e.bytes_sent));
  }
  std::printf("\n   and %lld matmuls on rank 0 in between (QKV, two per local head, o_proj, gate_up, down per block;"
              " the LM head).\n\n",
              static_cast<long long>(matmuls));
}

void print_kv_cache_table(const sim::DecoderConfig& c, std::int64_t positions) {
  std::printf("5. KV cache per rank: 2 (keys, values) x L x positions x nKV_r x d x 4 bytes\n\n"
              "   %4s  %6s  %8s  %22s  %22s\n", "p", "nKV_r", "replicas",
              ("bytes/rank, " + std::to_string(positions) + " pos").c_str(),
              ("bytes/rank, " + std::to_string(c.max_seq_len) + " pos").c_str());
  for (int p : sweep_tps(c)) {
    const sim::HeadAssignment a = sim::head_assignment(c.heads, c.kv_heads, p, 0);
    const std::int64_t per_pos = 2LL * c.layers * a.kv_heads.size() * c.head_dim() * 4;
    std::printf("   %4d  %6d  %8d  %22lld  %22lld\n", p, a.kv_heads.size(), a.kv_replicas,
                static_cast<long long>(per_pos * positions), static_cast<long long>(per_pos * c.max_seq_len));
  }
  std::printf("\n   Past p = nKV = %d the cache per rank stops shrinking: each KV head is replicated, and so is its "
              "cache.\n\n",
              c.kv_heads);
}

void print_memory_tables(const sim::DecoderConfig& c, std::int64_t positions, std::int64_t prompt_tokens,
                         const sim::World& world, int tree_segments) {
  std::printf("6. Memory per rank against p (decoder_memory.hpp, computed, nothing allocated)\n\n");
  std::printf("   The shipped model: KV cache for %lld positions, activations of a %lld-token prefill (bytes)\n\n"
              "   %4s  %12s  %10s  %12s  %12s\n", static_cast<long long>(positions),
              static_cast<long long>(prompt_tokens), "p", "weights", "kv_cache", "activations", "total");
  for (int p : sweep_tps(c)) {
    const auto kv = sim::decoder_memory_per_rank(c, p, positions, 0, tree_segments);
    const auto act = sim::decoder_memory_per_rank(c, p, prompt_tokens, prompt_tokens, tree_segments);
    std::printf("   %4d  %12lld  %10lld  %12lld  %12lld\n", p, static_cast<long long>(kv.weights),
                static_cast<long long>(kv.kv_cache), static_cast<long long>(act.activations),
                static_cast<long long>(kv.weights + kv.kv_cache + act.activations));
  }
  const int p = world.size();
  const auto f = sim::decoder_memory_per_rank(c, p, positions, 0, tree_segments);
  bool equal = true;
  for (int r = 0; r < p; ++r)
    equal = equal && world.memory().bytes(r, sim::MemoryKind::Weight) == f.weights &&
            world.memory().bytes(r, sim::MemoryKind::KVCache) == f.kv_cache;
  std::printf("\n   This run's ledger (p = %d): weights %lld, kv_cache %lld bytes on every rank; equal to the formula: "
              "%s\n\n",
              p, static_cast<long long>(world.memory().bytes(0, sim::MemoryKind::Weight)),
              static_cast<long long>(world.memory().bytes(0, sim::MemoryKind::KVCache)), equal ? "yes" : "NO");
  const sim::DecoderConfig big = sim::llama2_7b_config();
  const std::int64_t C = big.max_seq_len;
  std::printf("   A Llama-2-7B shape (%s), fp32: KV cache for %lld positions,\n"
              "   activations of a %lld-token prefill (GiB)\n\n   %4s  %10s  %10s  %12s  %10s\n",
              big.describe().c_str(), static_cast<long long>(C), static_cast<long long>(C), "p", "weights",
              "kv_cache", "activations", "total");
  for (int q : {1, 2, 4, 8}) {
    const auto kv = sim::decoder_memory_per_rank(big, q, C, 0);
    const auto act = sim::decoder_memory_per_rank(big, q, C, C);
    std::printf("   %4d  %10.2f  %10.2f  %12.2f  %10.2f\n", q, gib(kv.weights), gib(kv.kv_cache), gib(act.activations),
                gib(kv.weights + kv.kv_cache + act.activations));
  }
  std::printf("\n   Weights and cache fall as 1/p (up to the replicated norms); the activations fall more slowly:\n"
              "   x, h and the all-reduce's gathered inputs are (T, H) on every rank whatever p is.\n\n");
}

ReferenceRun run_reference(const sim::Checkpoint& checkpoint, const std::vector<std::int64_t>& prompt, int steps) {
  const atp::DecoderWeightsRef weights = sim::reference_weights(checkpoint);
  const std::vector<int> ids(prompt.begin(), prompt.end());
  ReferenceRun run;
  const std::vector<int> generated = atp::greedy_generate_reference(weights, ids, steps, &run.logits);
  run.generated.assign(generated.begin(), generated.end());
  return run;
}

namespace {

/// One run held against the reference: ids equal, largest error, the tightest step.
struct AgainstReference {
  bool same_ids = true;
  double max_error = 0.0;     // over every step and vocabulary entry
  double min_ratio = INFINITY;  // smallest top-two gap / error over the steps
  int min_ratio_step = 0;
  std::vector<int> close_steps;  // gap <= 2 error: a different id there could be rounding
};

AgainstReference against(const sim::GenerationResult& r, const ReferenceRun& ref) {
  AgainstReference a;
  a.same_ids = r.generated == ref.generated;
  for (std::size_t k = 0; k < r.steps.size() && k < ref.logits.size(); ++k) {
    const double err = sim::max_abs_difference(r.steps[k].logits, ref.logits[k]);
    const double gap = sim::top2_gap(ref.logits[k]);
    a.max_error = std::max(a.max_error, err);
    if (gap / err < a.min_ratio) {
      a.min_ratio = gap / err;
      a.min_ratio_step = static_cast<int>(k);
    }
    if (gap <= 2.0 * err) a.close_steps.push_back(static_cast<int>(k));
  }
  return a;
}

}  // namespace

bool print_reference_check(const sim::GenerationResult& result, const ReferenceRun& reference, int p) {
  const AgainstReference a = against(result, reference);
  std::printf("7. Against the float64 dense reference decoder (reference/include/atp/dense_decoder_reference.hpp)\n\n"
              "   reference generated: %s\n   ids equal to this run's (tp=%d): %s\n"
              "   largest |logit - float64 logit| over every step and vocabulary entry: %.3g\n"
              "   tightest step: %d, where the float64 top-two gap is %.0f times that step's error\n",
              id_line(reference.generated).c_str(), p, a.same_ids ? "yes" : "NO", a.max_error, a.min_ratio_step,
              a.min_ratio);
  if (a.close_steps.empty())
    std::printf("   steps whose top two were within twice the error (where rounding could pick another id): none\n\n");
  else
    for (int k : a.close_steps)
      std::printf("   step %d: the top two are within twice the error; a different id here is rounding\n", k);
  return a.same_ids;
}

bool run_tp_sweep(const sim::Checkpoint& checkpoint, const std::vector<std::int64_t>& prompt, int steps,
                  sim::DecoderOptions options, const ReferenceRun& reference) {
  std::printf("8. The same prompt at every tp the model admits (%d steps), each against float64\n\n"
              "   %4s  %-10s  %16s  %22s  %s\n", steps, "tp", "ids = f64", "max |error|", "min gap / error (step)",
              "close steps");
  bool all_same = true;
  for (int p : sweep_tps(checkpoint.config())) {
    sim::World world(p);
    const auto decoder = sim::ParallelDecoder::load(checkpoint, p, options);
    sim::DecoderState state =
        decoder.new_state(sim::generation_positions(static_cast<std::int64_t>(prompt.size()), steps));
    const auto run = sim::greedy_generate(world, decoder, state, prompt, steps);
    const AgainstReference a = against(run, reference);
    all_same = all_same && a.same_ids;
    char ratio[64];
    std::snprintf(ratio, sizeof ratio, "%.0f (%d)", a.min_ratio, a.min_ratio_step);
    std::printf("   %4d  %-10s  %16.3g  %22s  %zu\n", p, a.same_ids ? "yes" : "NO", a.max_error, ratio,
                a.close_steps.size());
  }
  if (options.order == sim::ReduceOrder::Tree)
    std::printf("\n   ids identical at every tp and equal to float64: %s. In the tree order every tp adds in the\n"
                "   same order, so the error column is one number (section 9 compares the bits).\n\n",
                all_same ? "yes" : "NO");
  else
    std::printf("\n   ids identical at every tp and equal to float64: %s. The tps round differently (the row-parallel\n"
                "   sums and the all-reduce add in other orders), but never by enough to swap the top two.\n\n",
                all_same ? "yes" : "NO");
  return all_same;
}

void print_rope_accuracy() {
  std::printf("RoPE in the bitwise contract: atp::sincos and atp::rope_inv_freq against float64\n"
              "(reference/include/atp/rotary_accuracy.hpp; tests/test_rotary.cpp asserts the bounds)\n\n"
              "   %-14s  %-68s  %9s  %9s  %10s\n", "function", "where", "max ulp", "mean ulp", "max |err|");
  for (const auto& row : atp::measure_rope_accuracy(std::uint64_t{1} << 22)) {
    if (row.what == "table cos/sin")
      std::printf("   %-14s  %-68s  %9s  %9s  %10.3g\n", row.what.c_str(), row.domain.c_str(), "-", "-", row.max_abs);
    else
      std::printf("   %-14s  %-68s  %9.3f  %9.3f  %10s\n", row.what.c_str(), row.domain.c_str(), row.ulp.max_ulp,
                  row.ulp.mean_ulp, "-");
  }
  std::printf("\n");
}

}  // namespace atp::ch07
