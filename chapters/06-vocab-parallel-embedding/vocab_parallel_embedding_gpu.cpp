/// \file vocab_parallel_embedding_gpu.cpp
/// \brief Chapter 6, GPU half: one rank of p real processes running the
/// vocabulary-parallel embedding and LM head on the same inputs as
/// vocab_parallel_embedding.cpp, dumping its tensors under the same names so
/// atp-compare can check every bit.
///
/// Run: `atp-launch -p 4 -- atp-ch06-vocab-parallel-embedding-gpu [--vocab 150] [--hidden 8] [--tokens 6]
///       [--seed 2026] [--ids 3,145,52] [--logits all-gather|gather] [--lm-head tied|untied] [--dump DIR]`
///
/// Legend: V, V_pad (V rounded up to 64), p, n = V_pad/p, H, T as in the CPU chapter.
///
/// Rank r writes DIR/rank<r>/ (rank 0 also the global tensors):
///
///     table, x, lm_head.weight (untied)   global inputs (rank 0)
///     embedding.weight.rank<r>  (n, H)    rows [r n, (r+1) n) of the zero-padded table
///     mask.rank<r>              (T, 1)    1 where the token is mine
///     partial.rank<r>           (T, H)    masked lookup kernel, -0.0 for foreign tokens
///     embeddings.rank<r>        (T, H)    rank-order all-reduce
///     embeddings_ring.rank<r>   (T, H)    ring all-reduce
///     local_logits.rank<r>      (T, n)    x W_r^T
///     logits.rank<r> / logits   (T, V)    all-gather on every rank / gather on rank 0
///     argmax_pairs.rank<r>      (T, 2)    (max value, global id)
///     argmax                    (T, 1)    the greedy ids (rank 0)
///     gpu.embeddings_native.rank<r> (T, H) ncclAllReduce's own order (GPU only)
///
/// The native all-reduce is checked here, bit for bit, against the
/// rank-order one: each element is one value plus p-1 exact zeros, so even
/// NCCL's own order (which rounds differently from ours for general data
/// once p > 2) returns the looked-up value. A mismatch exits with status 1.
/// Leaves out: the narration and trace (the simulator tells the story).
#include "vocab_inputs.hpp"

#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/layers/parallel_lm_head.hpp"
#include "atp/cuda/layers/vocab_parallel_embedding.hpp"
#include "atp/cuda/worker.hpp"
#include "atp/sim/cli.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/memory_budget.hpp"
#include "atp/ulp.hpp"

#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace cu = atp::cuda;
namespace sim = atp::sim;
using atp::Matrix;

namespace {

/// This rank's largest host tensors, for sim::require_memory (memory_budget.hpp).
sim::MemoryEstimate memory_needed(std::int64_t V, std::int64_t H, std::int64_t T, bool untied) {
  const std::int64_t V_pad = sim::pad_vocab_size(V);
  sim::MemoryEstimate need;
  need.add("the table (V_pad, H), the LM head weight and this rank's shards", {V_pad, H}, untied ? 4 : 3);
  need.add("logits (T, V_pad), gathered and downloaded", {T, V_pad}, 3);
  return need;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 6, GPU half: one rank of the vocabulary-parallel embedding and LM head (run under atp-launch)."};
  int tp = 0;
  std::int64_t vocab = 150, hidden = 8, tokens = 6;
  std::uint64_t seed = 2026;
  bool untied = false;
  std::string dump_dir, logits_text = "all-gather";
  namespace cli = atp::sim::cli;
  std::vector<std::int64_t> ids_given;
  cli::add_tp(app, tp, 64, "expected number of ranks p (checked against atp-launch's)", "the p atp-launch started");
  cli::add_integer(app, "--vocab", vocab, 1, std::int64_t{1} << 22, "vocabulary size V");
  cli::add_integer(app, "--hidden", hidden, 1, 4096, "hidden size H");
  cli::add_integer(app, "--tokens", tokens, 1, 4096, "number of tokens T (ignored with --ids)");
  cli::add_seed(app, seed);
  cli::add_integer_list(app, "--ids", ids_given, std::numeric_limits<std::int64_t>::min(),
                        std::numeric_limits<std::int64_t>::max(), "token ids as a comma list", "T ids from the seed");
  cli::add_choice(app, "--logits", logits_text, {"all-gather", "gather"}, "all-gather (every rank) or gather (rank 0 only)");
  std::string lm_head_text = "tied";
  cli::add_choice(app, "--lm-head", lm_head_text, {"tied", "untied"}, "tied (the embedding table) or untied (its own weight)");
  cli::add_dump(app, dump_dir, "write this rank's tensors into DIR/rank<r>/ (.npy plus manifest.json)");
  if (const auto rc = cli::parse(app, argc, argv)) return *rc;
  untied = lm_head_text == "untied";

  int rank = -1;
  try {
    const std::int64_t T_run = ids_given.empty() ? tokens : static_cast<std::int64_t>(ids_given.size());
    sim::require_memory(memory_needed(vocab, hidden, T_run, lm_head_text == "untied"),
                        "this configuration");  // before anything big is built
    cu::Communicator comm = cu::join_world(tp);
    rank = comm.rank();
    const int p = comm.world_size();
    const auto ids = ids_given.empty() ? atp::ch06::make_ids(tokens, vocab, seed) : ids_given;
    const auto T = static_cast<std::int64_t>(ids.size());
    const auto collective = sim::parse_logits_collective(logits_text);
    const Matrix table = atp::ch06::make_table(vocab, hidden, seed);
    const Matrix x = atp::ch06::make_hidden(T, hidden, seed);
    const auto emb = cu::VocabParallelEmbedding::from_master(table, rank, p);
    std::unique_ptr<sim::Dumper> dump;
    if (!dump_dir.empty())
      dump = std::make_unique<sim::Dumper>(
          cu::rank_dump_dir(dump_dir, rank),
          nlohmann::json{{"chapter", 6}, {"p", p}, {"vocab", vocab}, {"vocab_padded", emb.padded_vocab_size()},
                         {"hidden", hidden}, {"tokens", T}, {"seed", seed}, {"lm-head", lm_head_text},
                         {"logits", logits_text}, {"side", "gpu"}});
    const auto name = [rank](const std::string& n) { return sim::Dumper::rank_name(n, rank); };
    const Matrix W = untied ? atp::ch06::make_lm_weight(vocab, hidden, seed) : table;
    if (dump && rank == 0) {
      dump->add("table", table, "weight");
      if (untied) dump->add("lm_head.weight", W, "weight");
      dump->add("x", x, "input");
    }

    // The embedding: mask, masked lookup, all-reduce in each form.
    const auto mine = emb.range();
    Matrix mask(T, 1);
    for (std::int64_t t = 0; t < T; ++t) mask(t, 0) = mine.contains(ids[static_cast<std::size_t>(t)]) ? 1.0f : 0.0f;
    const Matrix partial = cu::to_host(emb.partial_embeddings(ids, comm.stream()), comm.stream());
    const Matrix summed = cu::to_host(emb.forward(comm, ids, cu::AllReduceForm::RankOrder), comm.stream());
    const Matrix ring = cu::to_host(emb.forward(comm, ids, cu::AllReduceForm::Ring), comm.stream());
    const Matrix native = cu::to_host(emb.forward(comm, ids, cu::AllReduceForm::Native), comm.stream());
    const atp::BitwiseReport native_vs = atp::compare_bitwise(native, summed);
    if (dump) {
      dump->add(name("embedding.weight"), cu::to_host(emb.weight(), comm.stream()), "weight_shard", rank);
      dump->add(name("mask"), mask, "intermediate", rank);
      dump->add(name("partial"), partial, "intermediate", rank);
      dump->add(name("embeddings"), summed, "output", rank);
      dump->add(name("embeddings_ring"), ring, "output", rank);
      dump->add(name("gpu.embeddings_native"), native, "output", rank);
    }

    // The LM head: local logits, the gather, the argmax pairs.
    const auto head = untied ? cu::ParallelLMHead::from_master(W, rank, p) : cu::ParallelLMHead::tied(emb);
    const cu::DeviceMatrix dx = cu::to_device(x, comm.stream());
    const cu::DeviceMatrix local = head.local_logits(dx, comm.stream());
    const Matrix logits = cu::to_host(head.gather_logits(comm, local, collective), comm.stream());
    const Matrix pairs = cu::to_host(head.local_argmax_pairs(local, comm.stream()), comm.stream());
    const auto greedy = head.argmax(comm, local);
    if (dump) {
      dump->add(name("local_logits"), cu::to_host(local, comm.stream()), "intermediate", rank);
      if (collective == sim::LogitsCollective::AllGather)
        dump->add(name("logits"), logits, "output", rank);
      else if (rank == 0)
        dump->add("logits", logits, "output", 0);
      dump->add(name("argmax_pairs"), pairs, "intermediate", rank);
      if (rank == 0) {
        Matrix column(T, 1);
        for (std::int64_t t = 0; t < T; ++t) column(t, 0) = static_cast<float>(greedy[static_cast<std::size_t>(t)]);
        dump->add("argmax", column, "output", 0);
      }
      dump->finish();
    }
    if (!native_vs.equal()) {
      std::fprintf(stderr, "rank %d: %s\n", rank, native_vs.describe("ncclAllReduce embeddings vs rank order").c_str());
      return 1;
    }
    if (rank == 0)
      std::printf("Chapter 6 (GPU): p=%d, V=%lld (V_pad=%lld), H=%lld, T=%lld, %s LM head, logits by %s on %s: "
                  "native ncclAllReduce embeddings bitwise equal to rank order%s\n",
                  p, static_cast<long long>(vocab), static_cast<long long>(emb.padded_vocab_size()),
                  static_cast<long long>(hidden), static_cast<long long>(T), untied ? "untied" : "tied",
                  logits_text.c_str(), comm.describe().c_str(), dump ? ", tensors dumped" : "");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-ch06-vocab-parallel-embedding-gpu (rank %d): %s\n", rank, e.what());
    return 1;
  }
  return 0;
}
