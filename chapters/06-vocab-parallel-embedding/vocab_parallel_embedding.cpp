/// \file vocab_parallel_embedding.cpp
/// \brief Chapter 6: the embedding table and the LM head split by vocabulary.
/// Padding to a multiple of 64, each rank's range and mask, zeros for foreign
/// tokens, the all-reduce that is bitwise equal to the dense lookup in any
/// order; local logits, all-gather or gather to rank 0, and a greedy argmax
/// that moves (value, id) pairs instead of logits; bytes and memory per rank.
///
/// Run: `atp-ch06-vocab-parallel-embedding [--tp 4] [--vocab 150] [--hidden 8] [--tokens 6] [--seed 2026]
///       [--ids 3,145,52] [--logits all-gather|gather] [--lm-head tied|untied] [--narrate] [--dump DIR]
///       [--sweep [--percent 10] [--layers 32]]`
///
/// Legend: V = vocabulary, V_pad = V rounded up to 64, p = ranks, n = V_pad/p
/// rows per rank, H = hidden size, T = tokens.
/// Leaves out: the GPU half (vocab_parallel_embedding_gpu.cpp), the decoder
/// between the embedding and the LM head (chapter 7), sampling beyond greedy.
#include "vocab_inputs.hpp"

#include "atp/sim/collectives.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/layers/parallel_lm_head.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"
#include "atp/sim/narrate.hpp"
#include "atp/sim/world.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/ulp.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace sim = atp::sim;
using atp::Matrix;

namespace {

/// Bytes rank 0 sent in events of `op` whose label is `label`.
std::int64_t sent(const sim::World& world, const std::string& op, const std::string& label) {
  std::int64_t bytes = 0;
  for (const auto& e : world.trace().events(op))
    if (e.rank == 0 && e.label == label) bytes += e.bytes_sent;
  return bytes;
}

std::string join(const std::vector<std::int64_t>& v) {
  std::string s;
  for (auto x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

/// A (T, 1) float column of ids (exact below 2^24), so the argmax can be dumped and compared as float32.
Matrix as_column(const std::vector<std::int64_t>& ids) {
  Matrix m(static_cast<Eigen::Index>(ids.size()), 1);
  for (std::size_t t = 0; t < ids.size(); ++t) m(static_cast<Eigen::Index>(t), 0) = static_cast<float>(ids[t]);
  return m;
}

bool same_bits_everywhere(const sim::PerRank<Matrix>& got, const Matrix& want) {
  for (const auto& g : got)
    if (!atp::compare_bitwise(g, want).equal()) return false;
  return true;
}

/// Sections 1-3: ranges, masks, partials, the all-reduce in two orders, memory and bytes.
void embedding(sim::World& world, const Matrix& table, const std::vector<std::int64_t>& ids, sim::Dumper* dump,
               const sim::VocabParallelEmbedding& emb) {
  const int p = world.size();
  const auto V = emb.vocab_size();
  const auto H = emb.hidden_size();
  const auto T = static_cast<std::int64_t>(ids.size());
  std::printf("1. The table split by vocabulary\n\n");
  std::printf("   V = %lld is padded to V_pad = %lld (a multiple of 64, vLLM's pad_vocab_size, so that the usual\n"
              "   p divide it), split into p = %d slices of n = %lld rows. Padding rows are zero (as vLLM's\n"
              "   weight loader fills them) and no id ever reaches them.\n\n",
              static_cast<long long>(V), static_cast<long long>(emb.padded_vocab_size()), p,
              static_cast<long long>(emb.rows_per_rank()));
  for (int r = 0; r < p; ++r) {
    const auto range = emb.range(r);
    std::printf("   rank %d: ids [%lld, %lld)  (%lld real rows, %lld padding)\n", r,
                static_cast<long long>(range.start), static_cast<long long>(range.end),
                static_cast<long long>(range.size()), static_cast<long long>(emb.rows_per_rank() - range.size()));
  }
  // Megatron-LM's rule (megatron/training/vocab_utils.py, calculate_padded_vocab_size): a multiple of 128 * p.
  std::printf("\n   The book follows vLLM: pad to 64 once, then p must divide V_pad. Megatron-LM pads to a multiple\n"
              "   of make_vocab_size_divisible_by (128) times p, so any p works but V_pad depends on p:\n");
  for (std::int64_t V_ : {V, std::int64_t{32000}}) {
    std::printf("     V = %-6lld  vLLM (64): %-6lld  Megatron (128 p):", static_cast<long long>(V_),
                static_cast<long long>(sim::pad_vocab_size(V_)));
    for (int q : {1, 2, 3, 4, 8}) {
      const std::int64_t m = 128 * static_cast<std::int64_t>(q);
      std::printf("  p=%d %lld", q, static_cast<long long>((V_ + m - 1) / m * m));
    }
    std::printf("\n");
  }
  std::printf("\n2. Mask, local lookup, all-reduce  (ids: %s)\n\n", join(ids).c_str());
  const auto masks = emb.masks(ids);
  for (int r = 0; r < p; ++r) {
    std::printf("   rank %d mine:", r);
    for (Eigen::Index t = 0; t < masks[r].rows(); ++t) std::printf(" %d", masks[r](t, 0) != 0.0f ? 1 : 0);
    std::printf("\n");
  }
  const auto partial = emb.partial_embeddings(world, ids, "embedding");
  const auto summed = sim::all_reduce_rank_order(world, partial, "embedding");
  sim::narrate(world, "embedding: after the all-reduce (sum), every rank holds the full embeddings", summed);
  const auto ring = sim::all_reduce_ring(world, partial, "embedding.ring");
  const Matrix dense = sim::embedding_lookup(table, ids);
  std::printf("\n   Each element of the sum is one looked-up value plus p-1 zeros (-0.0, the exact\n"
              "   additive identity), so every order returns that value:\n");
  std::printf("   rank-order all-reduce == dense lookup, bit for bit, on every rank: %s\n",
              same_bits_everywhere(summed, dense) ? "yes" : "NO");
  std::printf("   ring all-reduce       == dense lookup, bit for bit, on every rank: %s\n\n",
              same_bits_everywhere(ring, dense) ? "yes" : "NO");

  std::printf("3. Memory and bytes per rank\n\n");
  emb.account_memory(world, "embedding");
  std::printf("   table shard: n * H * 4 = %lld * %lld * 4 = %lld bytes per rank (dense table %lld bytes)\n",
              static_cast<long long>(emb.rows_per_rank()), static_cast<long long>(H),
              static_cast<long long>(world.memory().bytes(0, sim::MemoryKind::Weight)),
              static_cast<long long>(atp::fp32_bytes(V, H)));
  const auto ring_bytes = sent(world, sim::ops::kAllReduceRing, "embedding.ring");
  const auto order_bytes = sent(world, sim::ops::kAllReduceRankOrder, "embedding");
  std::printf("   all-reduce per forward, from the trace (rank 0 sends): ring %lld bytes\n"
              "   (formula T*H*4*2(p-1)/p = %.1f), rank-order %lld bytes (T*H*4*(p-1) = %lld)\n\n",
              static_cast<long long>(ring_bytes), static_cast<double>(T * H * 4) * 2.0 * (p - 1) / p,
              static_cast<long long>(order_bytes), static_cast<long long>(T * H * 4 * (p - 1)));
  if (dump) {
    dump->add_per_rank("embedding.weight", emb.weight(), "weight_shard");
    dump->add_per_rank("mask", masks, "intermediate");
    dump->add_per_rank("partial", partial, "intermediate");
    dump->add_per_rank("embeddings", summed, "output");
    dump->add_per_rank("embeddings_ring", ring, "output");
    dump->add("embeddings_dense", dense, "reference");
  }
}

/// Sections 4-5: the LM head's logits and the greedy argmax.
void lm_head(sim::World& world, const sim::ParallelLMHead& head, const Matrix& W, const Matrix& x,
             sim::LogitsCollective collective, sim::Dumper* dump) {
  const int p = world.size();
  std::printf("4. The LM head: local logits, then %s\n\n", sim::to_string(collective));
  const auto xr = sim::replicate(x, p);
  const auto local = head.local_logits(world, xr, "lm_head");
  const auto logits = head.gather_logits(world, local, collective, "lm_head");
  const Matrix dense = atp::matmul_nt(x, W);  // the single-device logits (T, V)
  bool equal = true;
  for (int r = 0; r < p; ++r)
    if (logits[r].size() > 0) equal = equal && atp::compare_bitwise(logits[r], dense).equal();
  std::printf("   rank r computes z_r = x W_r^T, (T, n); each logit is one whole dot product over H, so the\n"
              "   gathered (T, V) logits equal the dense x W^T bit for bit: %s (%s)\n\n", equal ? "yes" : "NO",
              collective == sim::LogitsCollective::Gather ? "rank 0 only; the others hold (0, 0)" : "every rank");

  std::printf("5. Greedy argmax that moves (max value, global id) pairs\n\n");
  const auto ids = head.argmax(world, local, "lm_head");
  const auto want = sim::dense_argmax(dense);
  std::printf("   argmax per token: %s\n   dense argmax:     %s  (%s)\n", join(ids[0]).c_str(), join(want).c_str(),
              ids[0] == want ? "identical" : "DIFFERENT");
  std::int64_t logits_total = 0, pairs_total = 0;
  for (const auto& e : world.trace().events())
    if (e.label == "lm_head" && (e.op == sim::ops::kAllGather || e.op == sim::ops::kGather))
      logits_total += e.bytes_sent;
    else if (e.label == "lm_head.argmax_pairs")
      pairs_total += e.bytes_sent;
  std::printf("   bytes sent over all ranks, from the trace: logits %s %lld; argmax pairs all-gather %lld\n"
              "   (2 floats per token per rank instead of n: %.1fx less)\n\n",
              sim::to_string(collective), static_cast<long long>(logits_total), static_cast<long long>(pairs_total),
              pairs_total > 0 ? static_cast<double>(logits_total) / static_cast<double>(pairs_total) : 0.0);
  if (dump) {
    dump->add_per_rank("local_logits", local, "intermediate");
    if (collective == sim::LogitsCollective::AllGather)
      dump->add_per_rank("logits", logits, "output");
    else
      dump->add("logits", logits[0], "output", 0);
    auto pairs = sim::make_per_rank(p, [&](int r) -> Matrix {
      return sim::local_argmax_pairs(local[r], head.range(r), head.vocab_size());
    });
    dump->add_per_rank("argmax_pairs", pairs, "intermediate");
    dump->add("argmax", as_column(ids[0]), "output");
  }
}

/// Section 6: the embedding all-reduce against one block's two all-reduces, from the trace.
void sweep(int p, std::int64_t V, std::int64_t H, double percent, int layers, std::uint64_t seed) {
  std::printf("6. Sweep: the embedding all-reduce against one transformer block (ring bytes per rank, from the "
              "trace)\n\n");
  std::printf("   A block all-reduces twice (after attention, after the MLP), each a (T, H) message like the\n"
              "   embedding's. p = %d, H = %lld, V = %lld; whole decoder: 1 + 2L all-reduces, L = %d.\n\n", p,
              static_cast<long long>(H), static_cast<long long>(V), layers);
  std::printf("   %6s  %14s  %14s  %12s  %16s  %16s  %12s\n", "T", "embedding B", "block B", "emb / block",
              "emb / decoder", "logits a-g B", "logits/block");
  const Matrix table = atp::ch06::make_table(V, H, seed);
  const auto emb = sim::VocabParallelEmbedding::from_master(table, p, sim::ReduceOrder::Ring);
  std::int64_t crossover = -1;
  double last_ratio = 0.0;
  for (std::int64_t T : {1, 4, 16, 64, 256, 1024, 4096}) {
    sim::World world(p);
    emb.forward(world, atp::ch06::make_ids(T, V, seed), "embedding");
    const auto block_in = sim::make_per_rank(p, [&](int r) -> Matrix {
      return atp::random_matrix(T, H, seed, 10 + static_cast<std::uint64_t>(r), 1.0f / 3.0f);
    });
    sim::all_reduce_ring(world, block_in, "block.attention");
    sim::all_reduce_ring(world, block_in, "block.mlp");
    const auto e = sent(world, sim::ops::kAllReduceRing, "embedding");
    const auto b = sent(world, sim::ops::kAllReduceRing, "block.attention") +
                   sent(world, sim::ops::kAllReduceRing, "block.mlp");
    if (b == 0) {
      std::printf("   %6lld  %14lld  %14lld  %12s  %16s\n", static_cast<long long>(T), static_cast<long long>(e),
                  static_cast<long long>(b), "-", "-");
      continue;
    }
    last_ratio = 100.0 * static_cast<double>(e) / static_cast<double>(b);
    const double whole = 100.0 * static_cast<double>(e) / static_cast<double>(e + layers * b);
    if (crossover < 0 && last_ratio > percent) crossover = T;
    // The LM head's logits all-gather of (T, n) blocks, (p-1) T n 4 bytes per rank: the formula the trace
    // uses for all_gather (collectives.cpp), computed here because a (T, V) buffer at T = 4096 is too big to run.
    const double logits = static_cast<double>(p - 1) * static_cast<double>(T) *
                          static_cast<double>(emb.rows_per_rank()) * 4.0;
    std::printf("   %6lld  %14lld  %14lld  %11.2f%%  %15.3f%%  %16.0f  %11.1fx\n", static_cast<long long>(T),
                static_cast<long long>(e), static_cast<long long>(b), last_ratio, whole, logits,
                logits / static_cast<double>(b));
  }
  if (p == 1) {
    std::printf("\n   p = 1: no all-reduce at all, nothing to compare.\n\n");
    return;
  }
  std::printf("\n   By construction the embedding all-reduce and each block all-reduce carry the same (T, H)\n"
              "   message, so the ratio is %.2f%% of one block at every T, and 1/(1+2L) of the decoder's.\n"
              "   The traffic that does concentrate is the LM head's: the all-gather of (T, V_pad/p) logits moves\n"
              "   V_pad/(4H) = %.1f times a block's two ring all-reduces, at every T (last column). That is the\n"
              "   traffic the greedy argmax pairs above remove.\n",
              last_ratio, static_cast<double>(emb.padded_vocab_size()) / (4.0 * static_cast<double>(H)));
  if (crossover > 0)
    std::printf("   Crossover for X = %.1f%%: T = %lld (the smallest T swept; it exceeds X%% from the first token).\n\n",
                percent, static_cast<long long>(crossover));
  else
    std::printf("   Crossover for X = %.1f%%: none at any T swept (the ratio stays %.2f%%).\n\n", percent, last_ratio);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 6: the vocabulary-parallel embedding and LM head, on p simulated ranks."};
  int tp = 4;
  std::int64_t vocab = 150, hidden = 8, tokens = 6;
  std::uint64_t seed = 2026;
  bool narrate = false, untied = false, run_sweep = false;
  std::string dump_dir, ids_text, logits_text = "all-gather";
  double percent = 10.0;
  int layers = 32;
  app.add_option("--tp", tp, "number of ranks p")->check(CLI::Range(1, 64));
  app.add_option("--vocab", vocab, "vocabulary size V (padded to a multiple of 64, then split)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 22));
  app.add_option("--hidden", hidden, "hidden size H")->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
  app.add_option("--tokens", tokens, "number of tokens T (ignored with --ids)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_option("--ids", ids_text, "token ids as a comma list, e.g. 3,145,52 (default: T ids from the seed)");
  app.add_option("--logits", logits_text, "all-gather (every rank) or gather (rank 0 only)")
      ->check(CLI::IsMember({"all-gather", "gather"}));
  std::string lm_head_text = "tied";
  app.add_option("--lm-head", lm_head_text, "tied (the embedding table) or untied (its own weight)")
      ->check(CLI::IsMember({"tied", "untied"}));
  app.add_flag("--narrate", narrate, "print what every rank holds at every step");
  app.add_option("--dump", dump_dir, "write every tensor as .npy plus manifest.json into this folder");
  app.add_flag("--sweep", run_sweep, "also print the embedding all-reduce against one block's, over token counts");
  app.add_option("--percent", percent, "the X of the sweep's crossover: emb all-reduce > X% of a block's")
      ->check(CLI::Range(0.0, 1000.0));
  app.add_option("--layers", layers, "L, blocks of the decoder the sweep compares against")->check(CLI::Range(1, 1024));
  CLI11_PARSE(app, argc, argv);
  untied = lm_head_text == "untied";

  try {
    const auto ids = ids_text.empty() ? atp::ch06::make_ids(tokens, vocab, seed) : atp::ch06::parse_ids(ids_text);
    const auto T = static_cast<std::int64_t>(ids.size());
    const auto collective = sim::parse_logits_collective(logits_text);
    std::printf("Chapter 6: vocabulary-parallel embedding and LM head (p=%d, V=%lld, H=%lld, T=%lld, seed=%llu, "
                "%s LM head)\n\n",
                tp, static_cast<long long>(vocab), static_cast<long long>(hidden), static_cast<long long>(T),
                static_cast<unsigned long long>(seed), untied ? "untied" : "tied");
    const Matrix table = atp::ch06::make_table(vocab, hidden, seed);
    const auto emb = sim::VocabParallelEmbedding::from_master(table, tp);
    sim::check_token_ids(ids, vocab);
    sim::World world(tp);
    if (narrate) world.narrate_to(std::cout);
    std::unique_ptr<sim::Dumper> dump;
    if (!dump_dir.empty())
      dump = std::make_unique<sim::Dumper>(
          dump_dir, nlohmann::json{{"chapter", 6}, {"p", tp}, {"vocab", vocab}, {"vocab_padded", emb.padded_vocab_size()},
                                   {"hidden", hidden}, {"tokens", T}, {"seed", seed}, {"lm-head", lm_head_text},
                                   {"logits", logits_text},
                                   {"strategy", "embedding: masked lookup (-0.0 for foreign tokens) + all_reduce "
                                                "rank_order (and ring); lm_head: matmul_nt, all_gather or gather "
                                                "along cols, padding trimmed; argmax: all_gather of (T, 2) pairs"}});
    const Matrix W = untied ? atp::ch06::make_lm_weight(vocab, hidden, seed) : table;
    const Matrix x = atp::ch06::make_hidden(T, hidden, seed);
    if (dump) {
      dump->add_i64("ids", ids, "input");
      dump->add("table", table, "weight");
      if (untied) dump->add("lm_head.weight", W, "weight");
      dump->add("x", x, "input");
    }
    embedding(world, table, ids, dump.get(), emb);
    const auto head = untied ? sim::ParallelLMHead::from_master(W, tp) : sim::ParallelLMHead::tied(emb);
    head.account_memory(world, "lm_head", &emb);
    std::printf("   LM head weight: %s (%s)\n", untied ? "its own shards" : "the embedding's shards, shared",
                head.is_tied_to(emb) ? "tied: no extra bytes" : "untied: n * H * 4 more bytes per rank");
    std::printf("\n%s\n", world.memory().table().c_str());
    lm_head(world, head, W, x, collective, dump.get());
    std::printf("The trace of this run (bytes and adds, per op and per rank):\n\n%s\n",
                world.trace().summary().c_str());
    if (run_sweep) sweep(tp, vocab, hidden, percent, layers, seed);
    if (dump) {
      dump->finish();
      std::printf("Wrote the dump to %s\n", dump_dir.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
