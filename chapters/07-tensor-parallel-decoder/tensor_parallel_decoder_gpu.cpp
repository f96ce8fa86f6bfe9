/// \file tensor_parallel_decoder_gpu.cpp
/// \brief Chapter 7, GPU half: one rank of p processes generating with the
/// tensor-parallel decoder on NCCL, from the same checkpoint, prompt and
/// options as tensor_parallel_decoder.cpp, dumping under the same names so
/// atp-compare checks every bit.
///
/// Run: `atp-launch -p 4 -- atp-ch07-tensor-parallel-decoder-gpu [--checkpoint data/fortune-llama.bin]
///       [--prompt "The " | --prompt-ids 1,84] [--steps 24] [--tp 4] [--reduce-order rank-order|ring]
///       [--logits all-gather|gather] [--dump DIR]`
///
/// Each rank maps the checkpoint and reads only its own shard
/// (atp::sim::read_decoder_shard, the simulator's reader), uploads it, and
/// runs the prefill and the decode steps: the embedding's masked lookup and
/// all-reduce, per block the norms, QKV, rotary, the KV cache, attention per
/// local head, o_proj and its all-reduce, the MLP and its all-reduce, then the
/// final norm and the LM head's collective. Rank r writes DIR/rank<r>/:
///
///     prompt, generated (int64)             rank 0
///     logits.step<k>          (1, V)         rank 0: the logits step k picked from
///     kv_cache.k.block<l>.rank<r>, kv_cache.v.block<l>.rank<r>   (positions, nKV_r d): its caches
///
/// and prints `generated: <id> ...` on rank 0. Leaves out: narration and the
/// trace (the simulator tells the story), the tp sweep.
#include "decoder_cli.hpp"

#include "atp/cuda/models/parallel_decoder.hpp"
#include "atp/cuda/worker.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/models/generation.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

namespace cu = atp::cuda;
namespace sim = atp::sim;
namespace ch07 = atp::ch07;
using atp::Matrix;

int main(int argc, char** argv) {
  CLI::App app{"Chapter 7, GPU half: one rank of the tensor-parallel decoder (run under atp-launch)."};
  ch07::RunOptions o;
  ch07::add_run_options(app, o);
  CLI11_PARSE(app, argc, argv);

  int rank = -1;
  try {
    const sim::Checkpoint checkpoint = sim::Checkpoint::open(o.checkpoint);
    const sim::DecoderConfig& c = checkpoint.config();
    sim::check_decoder_tp(c, o.tp);
    const sim::Tokenizer tokenizer = ch07::make_tokenizer(o, c.vocab);
    const std::vector<std::int64_t> prompt = ch07::prompt_ids(o, tokenizer, c);
    cu::Communicator comm = cu::join_world(o.tp);
    rank = comm.rank();
    const int p = comm.world_size();
    const cu::DecoderOptions options{cu::parse_all_reduce_form(o.reduce_order), sim::parse_logits_collective(o.logits)};
    sim::ReadCounter read;
    const cu::ParallelDecoder decoder = cu::ParallelDecoder::load(checkpoint, comm, options, &read);
    cu::DecoderState state =
        decoder.new_state(sim::generation_positions(static_cast<std::int64_t>(prompt.size()), o.steps));
    const auto steps = cu::greedy_generate(comm, decoder, state, prompt, o.steps);
    std::vector<std::int64_t> generated;
    for (const auto& s : steps) generated.push_back(s.token);

    if (!o.dump.empty()) {
      sim::Dumper dump(cu::rank_dump_dir(o.dump, rank),
                       {{"chapter", 7},
                        {"p", p},
                        {"seed", o.seed},
                        {"steps", o.steps},
                        {"prompt_ids", ch07::id_list_text(prompt)},
                        {"checkpoint", o.checkpoint},
                        {"model", c.describe()},
                        {"reduce_order", o.reduce_order},
                        {"logits", o.logits},
                        {"side", "gpu"}});
      if (rank == 0) {
        dump.add_i64("prompt", prompt, "input");
        dump.add_i64("generated", generated, "output");
        for (const auto& s : steps) dump.add("logits.step" + std::to_string(s.step), s.logits, "output");
      }
      for (int l = 0; l < c.layers; ++l) {
        const std::string block = ".block" + std::to_string(l);
        cu::KVCache& cache = state.cache(l);
        dump.add(sim::Dumper::rank_name("kv_cache.k" + block, rank), cu::to_host(cache.keys(comm.stream()), comm.stream()),
                 "intermediate", rank);
        dump.add(sim::Dumper::rank_name("kv_cache.v" + block, rank),
                 cu::to_host(cache.values(comm.stream()), comm.stream()), "intermediate", rank);
      }
      dump.finish();
    }
    if (rank == 0)
      std::printf("Chapter 7 (GPU): p=%d on %s, %s all-reduce; rank 0 read %lld bytes of %s\ngenerated: %s\n", p,
                  comm.describe().c_str(), o.reduce_order.c_str(), static_cast<long long>(read.bytes),
                  o.checkpoint.c_str(), ch07::id_line(generated).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-ch07-tensor-parallel-decoder-gpu (rank %d): %s\n", rank, e.what());
    return 1;
  }
  return 0;
}
