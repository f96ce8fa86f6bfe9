/// \file test_ch07_decoder.cpp
/// \brief Chapter 7 on the simulator: shards read per rank, shards equal to
///        the chapter layers' slices, FFN padding exact, 1 + 2L all-reduces
///        per token step, decode steps equal to a full forward bit for bit,
///        the same ids at every tp, and the memory formula against the ledger.
#include "test_util.hpp"

#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"
#include "atp/sim/checkpoint/tokenizer.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/layers/parallel_mlp.hpp"
#include "atp/sim/models/decoder_memory.hpp"
#include "atp/sim/models/generation.hpp"
#include "atp/sim/models/parallel_decoder.hpp"
#include "atp/sim/models/reference_weights.hpp"
#include "atp/sim/models/synthetic_decoder.hpp"
#include "atp/sim/sharding.hpp"

#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

namespace sim = atp::sim;
using atp::Matrix;
using atp::test::contains;
using atp::test::error_of;
using atp::test::require_bitwise;

namespace {

const sim::Checkpoint& fortune() {
  static const sim::Checkpoint c = sim::Checkpoint::open(ATP_SOURCE_DIR "/data/fortune-llama.bin");
  return c;
}

std::string layer(int l, const std::string& rest) { return "model.layers." + std::to_string(l) + "." + rest; }

/// Generation on p ranks; the world is returned for its trace.
sim::GenerationResult generate(const sim::Checkpoint& c, int p, const std::vector<std::int64_t>& prompt, int steps,
                               sim::World& world, sim::DecoderOptions options = {}) {
  const auto decoder = sim::ParallelDecoder::load(c, p, options);
  sim::DecoderState state =
      decoder.new_state(sim::generation_positions(static_cast<std::int64_t>(prompt.size()), steps));
  return sim::greedy_generate(world, decoder, state, prompt, steps);
}

/// Rows [0, n) of m followed by zero rows up to `rows`.
Matrix pad_rows(const Matrix& m, Eigen::Index rows) {
  Matrix out = Matrix::Zero(rows, m.cols());
  out.topRows(m.rows()) = m;
  return out;
}

Matrix pad_cols(const Matrix& m, Eigen::Index cols) {
  Matrix out = Matrix::Zero(m.rows(), cols);
  out.leftCols(m.cols()) = m;
  return out;
}

}  // namespace

TEST_CASE("each rank reads only its own shard's bytes out of the checkpoint") {
  const sim::Checkpoint& c = fortune();
  std::int64_t all = 0, replicated = 0, kv = 0;
  for (const auto& t : c.tensors()) {
    all += t.bytes;
    if (t.shape.size() == 1) replicated += t.bytes;  // the norms: every rank reads them whole
    if (contains(t.name, "k_proj") || contains(t.name, "v_proj")) kv += t.bytes;
  }
  for (int p : {1, 2, 4, 8}) {
    CAPTURE(p);
    sim::PerRank<sim::ReadCounter> read;
    sim::ParallelDecoder::load(c, p, {}, &read);
    std::int64_t sum = 0;
    for (int r = 0; r < p; ++r) sum += read[r].bytes;
    // Sharded tensors are read once in all; norms p times; at p = 8 each of the 4 KV heads by 2 ranks.
    const std::int64_t kv_copies = p > c.config().kv_heads ? p / c.config().kv_heads : 1;
    CHECK(sum == (all - replicated) + p * replicated + (kv_copies - 1) * kv);
    if (p <= 4)
      for (int r = 0; r < p; ++r) CHECK(read[r].bytes == (all - replicated) / p + replicated);
  }
}

TEST_CASE("rank r's shards are the chapter layers' slices of the dense masters, bit for bit") {
  const sim::Checkpoint& c = fortune();
  const sim::DecoderConfig& cfg = c.config();
  const Matrix table = c.read("model.embed_tokens.weight");
  for (int p : {1, 2, 4, 8}) {
    CAPTURE(p);
    const auto decoder = sim::ParallelDecoder::load(c, p);
    const auto emb = sim::VocabParallelEmbedding::from_master(table, p);
    CHECK(decoder.lm_head().is_tied_to(decoder.embedding()));
    const std::int64_t Ip = sim::padded_intermediate(cfg, p);
    for (int l : {0, cfg.layers - 1}) {
      CAPTURE(l);
      const auto& block = decoder.blocks()[static_cast<std::size_t>(l)];
      const auto qkv = sim::QKVParallelLinear::from_masters(
          c.read(layer(l, "self_attn.q_proj.weight")), c.read(layer(l, "self_attn.k_proj.weight")),
          c.read(layer(l, "self_attn.v_proj.weight")), nullptr, nullptr, nullptr, cfg.heads, cfg.kv_heads, p);
      const auto o = sim::RowParallelLinear::from_master(c.read(layer(l, "self_attn.o_proj.weight")), nullptr, p);
      // The FFN masters padded with zero rows (gate, up) and zero columns (down) to I_p, then sliced.
      const auto mlp = sim::ParallelGatedMLP::from_master(pad_rows(c.read(layer(l, "mlp.gate_proj.weight")), Ip),
                                                          pad_rows(c.read(layer(l, "mlp.up_proj.weight")), Ip),
                                                          pad_cols(c.read(layer(l, "mlp.down_proj.weight")), Ip), p);
      for (int r = 0; r < p; ++r) {
        CAPTURE(r);
        require_bitwise(decoder.embedding().weight()[r], emb.weight()[r], "embedding shard");
        require_bitwise(block.attention().qkv().weight()[r], qkv.weight()[r], "QKV shard");
        require_bitwise(block.attention().out_proj().weight()[r], o.weight()[r], "o_proj shard");
        require_bitwise(block.gated_mlp()->gate_up().weight()[r], mlp.gate_up().weight()[r], "gate_up shard");
        require_bitwise(block.gated_mlp()->down().weight()[r], mlp.down().weight()[r], "down shard");
      }
    }
  }
}

TEST_CASE("padding the FFN with zero rows and columns changes no bit of what the real columns compute") {
  const sim::Checkpoint& c = fortune();
  const Matrix gate = c.read(layer(1, "mlp.gate_proj.weight")), up = c.read(layer(1, "mlp.up_proj.weight"));
  const Matrix down = c.read(layer(1, "mlp.down_proj.weight"));
  const Matrix x = atp::random_matrix(3, 64, 5, 1);
  // p = 1: 172 -> 176 appends four zero terms to the end of every down-projection chain: fma(+0, +0, acc) = acc.
  {
    sim::World w1(1), w2(1);
    const auto plain = sim::ParallelGatedMLP::from_master(gate, up, down, 1).forward(w1, sim::replicate(x, 1), "m");
    const auto padded = sim::ParallelGatedMLP::from_master(pad_rows(gate, 176), pad_rows(up, 176),
                                                           pad_cols(down, 176), 1)
                            .forward(w2, sim::replicate(x, 1), "m");
    require_bitwise(padded[0], plain[0], "padded vs unpadded, p = 1");
  }
  // p = 8: each rank's partial sum equals the unpadded math on its real columns alone (22, ..., 22, 18).
  sim::World world(8);
  const auto mlp = sim::ParallelGatedMLP::from_master(pad_rows(gate, 176), pad_rows(up, 176), pad_cols(down, 176), 8);
  const auto steps = mlp.forward_steps(world, sim::replicate(x, 8), "m");
  for (int r = 0; r < 8; ++r) {
    CAPTURE(r);
    const Eigen::Index begin = r * 22, n = std::min<Eigen::Index>(22, 172 - begin);
    const Matrix g = atp::linear(x, Matrix(gate.middleRows(begin, n)), nullptr);
    const Matrix u = atp::linear(x, Matrix(up.middleRows(begin, n)), nullptr);
    Matrix gu(3, 2 * n);
    gu << g, u;
    const Matrix partial = atp::linear(sim::swiglu(gu), Matrix(down.middleCols(begin, n)), nullptr);
    require_bitwise(steps.partial_sums[r], partial, "partial sum of rank r vs its real columns");
    if (r == 7) CHECK(steps.activated[r].rightCols(4).isZero(0.0f));  // silu(+0) * (+0) = +0 in the padding
  }
}

TEST_CASE("every token step costs 1 + 2L all-reduces and one logits collective, prefill and decode, any L and p") {
  for (auto arch : {sim::DecoderArch::Llama, sim::DecoderArch::GPT})
    for (int L : {1, 2, 3})
      for (int p : {1, 2, 4}) {
        CAPTURE(sim::decoder_arch_name(arch));
        CAPTURE(L);
        CAPTURE(p);
        const sim::Checkpoint c = sim::synthetic_decoder_checkpoint(sim::small_decoder_config(arch, L), 7);
        sim::World world(p);
        const auto result = generate(c, p, {1, 5, 9, 40}, 3, world);
        REQUIRE(result.steps.size() == 3);
        CHECK(result.steps[0].tokens_in == 4);
        for (const auto& s : result.steps) {
          CHECK(s.all_reduces == 1 + 2 * L);
          CHECK(s.logits_collectives == 1);
          CHECK(s.broadcasts == 0);
        }
        CHECK(world.trace().count(sim::ops::kAllReduceRankOrder) == 3 * (1 + 2 * L));
        CHECK(world.trace().count(sim::ops::kAllGather) == 3);
      }
  // Logits to rank 0 only: the gather, then rank 0 broadcasts the id it picked.
  sim::World world(4);
  const auto g = generate(fortune(), 4, {1, 84}, 2, world, {sim::ReduceOrder::Ring, sim::LogitsCollective::Gather});
  for (const auto& s : g.steps) {
    CHECK(s.all_reduces == 11);
    CHECK(s.logits_collectives == 1);
    CHECK(s.broadcasts == 1);
  }
  CHECK(world.trace().count(sim::ops::kAllReduceRing) == 22);
  CHECK(world.trace().count(sim::ops::kGather) == 2);
}

TEST_CASE("a decode step with the KV cache equals the last row of a full forward, bit for bit") {
  for (auto arch : {sim::DecoderArch::Llama, sim::DecoderArch::GPT}) {
    CAPTURE(sim::decoder_arch_name(arch));
    const sim::Checkpoint c = sim::synthetic_decoder_checkpoint(sim::small_decoder_config(arch, 2), 21);
    const int p = arch == sim::DecoderArch::GPT ? 4 : 2;
    sim::World world(p);
    const std::vector<std::int64_t> prompt{1, 17, 33, 2};
    const auto result = generate(c, p, prompt, 5, world);
    const auto decoder = sim::ParallelDecoder::load(c, p);
    for (int k : {1, 4}) {
      CAPTURE(k);
      std::vector<std::int64_t> seq = prompt;
      seq.insert(seq.end(), result.generated.begin(), result.generated.begin() + k);
      sim::DecoderState fresh = decoder.new_state(static_cast<std::int64_t>(seq.size()));
      sim::World w(p);
      const auto logits = decoder.last_logits(w, decoder.forward(w, seq, fresh, "full"), "full");
      require_bitwise(logits[0], result.steps[static_cast<std::size_t>(k)].logits, "decode step vs full forward");
    }
  }
}

TEST_CASE("the shipped model writes what its provenance says, with the same ids at tp 1, 2, 4 and 8") {
  // data/README.md: from BOS + "A computer " greedy decoding gives "A computer is a programmer than the state of".
  const std::vector<std::int64_t> prompt = sim::Tokenizer::bytes(256).encode("A computer ");
  std::vector<sim::GenerationResult> runs;
  for (int p : {1, 2, 4, 8}) {
    sim::World world(p);
    runs.push_back(generate(fortune(), p, prompt, 32, world));
    CHECK(runs.back().generated == runs.front().generated);
  }
  const std::string documented = "is a programmer than the state of the state of";  // after "A computer "
  CHECK(sim::Tokenizer::bytes(256).decode(runs[0].generated, 32) == documented.substr(0, 32));
  // Held against the float64 reference decoder (written independently): the same ids, and at every step the
  // float64 top-two gap is more than twice the largest logit error, so no id was decided by rounding.
  const atp::DecoderWeightsRef ref = sim::reference_weights(fortune());
  std::vector<atp::MatrixD> ref_logits;
  const std::vector<int> ref_ids = atp::greedy_generate_reference(ref, std::vector<int>(prompt.begin(), prompt.end()),
                                                                  32, &ref_logits);
  CHECK(std::vector<std::int64_t>(ref_ids.begin(), ref_ids.end()) == runs[0].generated);
  for (const auto& run : runs)
    for (std::size_t k = 0; k < run.steps.size(); ++k) {
      const double err = sim::max_abs_difference(run.steps[k].logits, ref_logits[k]);
      CHECK(err < 1e-4);  // measured 1.6e-5: fp32 sums of <= 172 terms over 5 blocks, logits of size ~10
      CHECK(sim::top2_gap(ref_logits[k]) > 2.0 * err);
    }
}

TEST_CASE("a GPT-style decoder (biases, LayerNorm, learned positions, untied head) agrees with the float64 reference") {
  const sim::Checkpoint c = sim::synthetic_decoder_checkpoint(sim::small_decoder_config(sim::DecoderArch::GPT, 2), 31);
  const std::vector<std::int64_t> prompt{1, 50, 60, 70};
  std::vector<atp::MatrixD> ref_logits;
  const std::vector<int> ref_ids =
      atp::greedy_generate_reference(sim::reference_weights(c), std::vector<int>(prompt.begin(), prompt.end()), 8,
                                     &ref_logits);
  for (int p : {1, 2, 4, 8}) {
    CAPTURE(p);
    sim::World world(p);
    const auto run = generate(c, p, prompt, 8, world);
    CHECK(run.generated == std::vector<std::int64_t>(ref_ids.begin(), ref_ids.end()));
    for (std::size_t k = 0; k < run.steps.size(); ++k)
      CHECK(sim::max_abs_difference(run.steps[k].logits, ref_logits[k]) < 1e-4);  // fp32 against float64
  }
}

TEST_CASE("the forward from input embeddings: the same bits as from ids; placeholder rows replaced") {
  const sim::Checkpoint c = sim::synthetic_decoder_checkpoint(sim::small_decoder_config(sim::DecoderArch::Llama, 2), 5);
  const auto decoder = sim::ParallelDecoder::load(c, 2);
  const std::vector<std::int64_t> ids{1, 95, 95, 7, 95};
  sim::World w1(2), w2(2);
  sim::DecoderState s1 = decoder.new_state(8), s2 = decoder.new_state(8);
  const auto from_ids = decoder.forward(w1, ids, s1, "a");
  const auto from_embeddings = decoder.forward_embeddings(w2, decoder.embed(w2, ids, "b"), s2, "b");
  for (int r = 0; r < 2; ++r) require_bitwise(from_embeddings[r], from_ids[r], "embeddings path vs ids path");
  const Matrix features = atp::random_matrix(3, 64, 9, 2);
  sim::World w3(2);
  const auto merged = decoder.embed_with_features(w3, ids, 95, features, "vlm");
  const auto plain = decoder.embed(w3, ids, "plain");
  for (int r = 0; r < 2; ++r) {
    require_bitwise(Matrix(merged[r].row(1)), Matrix(features.row(0)), "first placeholder");
    require_bitwise(Matrix(merged[r].row(4)), Matrix(features.row(2)), "third placeholder");
    require_bitwise(Matrix(merged[r].row(3)), Matrix(plain[r].row(3)), "a text token stays");
  }
  CHECK(contains(error_of([&] { decoder.embed_with_features(w3, ids, 95, Matrix::Zero(2, 64), "vlm"); }),
                 "3 tokens are the placeholder id 95 but the features are (2, 64)"));
}

TEST_CASE("the memory formula is exactly what the ledger holds, at every p") {
  const sim::Checkpoint gpt = sim::synthetic_decoder_checkpoint(sim::small_decoder_config(sim::DecoderArch::GPT, 2), 1);
  for (const sim::Checkpoint* c : {&fortune(), &gpt})
    for (int p : {1, 2, 4, 8}) {
      CAPTURE(c->origin());
      CAPTURE(p);
      sim::World world(p);
      const auto decoder = sim::ParallelDecoder::load(*c, p);
      decoder.account_memory(world);
      decoder.new_state(40).account_memory(world);
      const auto m = sim::decoder_memory_per_rank(c->config(), p, 40, 1);
      for (int r = 0; r < p; ++r) {
        CHECK(world.memory().bytes(r, sim::MemoryKind::Weight) == m.weights);
        CHECK(world.memory().bytes(r, sim::MemoryKind::KVCache) == m.kv_cache);
      }
    }
  // The 7B shape: 6.74e9 parameters in fp32 at p = 1 (embedding and head untied), a quarter per rank at p = 4.
  const auto big1 = sim::decoder_memory_per_rank(sim::llama2_7b_config(), 1, 4096, 4096);
  const auto big4 = sim::decoder_memory_per_rank(sim::llama2_7b_config(), 4, 4096, 4096);
  CHECK(big1.weights > 4LL * 6'738'000'000LL);
  CHECK(big1.weights < 4LL * 6'740'000'000LL);
  CHECK(big1.kv_cache == 2LL * 32 * 4096 * 4096 * 4);
  CHECK(big4.kv_cache * 4 == big1.kv_cache);
}

TEST_CASE("the decoder refuses what it cannot run, naming the values") {
  const sim::Checkpoint& c = fortune();
  const std::string tp3 = error_of([&] { sim::ParallelDecoder::load(c, 3); });
  CHECK(contains(tp3, "tp 3 does not fit this model (8 query heads, 4 KV heads, vocabulary 256"));
  CHECK(contains(tp3, "valid tp: 1, 2, 4, 8"));
  const auto decoder = sim::ParallelDecoder::load(c, 2);
  sim::World world(2);
  sim::DecoderState state = decoder.new_state(8);
  CHECK(contains(error_of([&] { sim::greedy_generate(world, decoder, state, {1, 2, 3}, 254); }),
                 "the prompt (3 tokens) and 254 steps make 257 tokens, more than max_seq_len 256; use at most 253"));
  CHECK(contains(error_of([&] { sim::greedy_generate(world, decoder, state, {1, 2, 3}, 7); }),
                 "it must be empty with room for 9"));
  CHECK(contains(error_of([&] { decoder.new_state(257); }), "outside [1, max_seq_len 256]"));
  CHECK(contains(error_of([&] { decoder.forward(world, {1, 300}, state, "x"); }),
                 "token id 300 at position 1 is outside the vocabulary [0, 256)"));
  sim::DecoderState small = decoder.new_state(2);
  CHECK(contains(error_of([&] { decoder.forward(world, {1, 2, 3}, small, "x"); }),
                 "3 tokens after position 0 do not fit a KV cache of 2 positions"));
}

TEST_CASE("narrated prefill: block 0 step by step, the other blocks quiet") {
  sim::World world(2);
  std::ostringstream out;
  world.narrate_to(out);
  const auto decoder = sim::ParallelDecoder::load(fortune(), 2);
  sim::DecoderState state = decoder.new_state(4);
  decoder.forward(world, {1, 84, 104}, state, "prefill");
  const std::string text = out.str();
  CHECK(contains(text, "prefill.block0.attn.rotary(q): rotated for positions 0..2"));
  CHECK(contains(text, "prefill.block0: x = x + mlp(post_attention_norm(x))"));
  CHECK(!contains(text, "prefill.block1.attn"));
  CHECK(contains(text, "blocks 1..4 ran unnarrated"));
  CHECK(world.narrator() != nullptr);  // the pause gave narration back
}
