/// \file test_dense_decoder_reference.cpp
/// \brief The float64 reference decoder (chapter 7) against evidence from
///        outside its code: the shipped checkpoint's documented greedy text,
///        hand derivations of tiny models, and the algebra of RoPE and GQA.
///
/// The checkpoint is found at ATP_DATA_DIR/fortune-llama.bin; without it the
/// cases that need it print "ATP-SKIP: data/fortune-llama.bin not present".
#include "atp/dense_decoder_reference.hpp"
#include "atp/rng.hpp"

#include "test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <numbers>
#include <string>
#include <vector>

using atp::DecoderArch;
using atp::DecoderWeightsRef;
using atp::DenseDecoderRef;
using atp::MatrixD;
using atp::test::contains;
using atp::test::error_of;

namespace {

constexpr int kBos = 1;

std::string checkpoint_path() {
  const std::string p = std::string(ATP_DATA_DIR) + "/fortune-llama.bin";
  if (std::filesystem::exists(p)) return p;
  std::cout << "ATP-SKIP: data/fortune-llama.bin not present (looked for " << p << ")" << std::endl;
  return "";
}

// Byte-level model: token id = byte value, BOS first.
std::vector<int> prompt_ids(const std::string& text) {
  std::vector<int> ids{kBos};
  for (unsigned char c : text) ids.push_back(c);
  return ids;
}

std::string as_text(const std::vector<int>& ids) { return std::string(ids.begin(), ids.end()); }

MatrixD md(int rows, int cols, std::initializer_list<double> v) {
  MatrixD m(rows, cols);
  auto it = v.begin();
  for (int i = 0; i < rows * cols; ++i) m.data()[i] = *it++;
  return m;
}

// (1, n) with a 1 at column j.
MatrixD unit_row(int n, int j) {
  MatrixD e = MatrixD::Zero(1, n);
  e(0, j) = 1;
  return e;
}

// Random weights of either family; GPT biases and norms are random too, so every term counts.
DecoderWeightsRef random_decoder(DecoderArch arch, int n_heads, int n_kv_heads, std::uint64_t seed) {
  DecoderWeightsRef w;
  auto& s = w.shape;
  s.arch = arch, s.dim = 16, s.hidden_dim = 24, s.n_layers = 2, s.n_heads = n_heads, s.n_kv_heads = n_kv_heads;
  s.vocab_size = 11, s.max_seq_len = 9;
  const int d = s.head_dim(), Q = n_heads * d, KV = n_kv_heads * d;
  std::uint64_t stream = 0;
  const auto rnd = [&](int r, int c, float scale) {
    return atp::widen_ref(atp::random_matrix(r, c, seed, stream++, scale));
  };
  const auto norm_w = [&] { return MatrixD(rnd(1, s.dim, 0.25f).array() + 1.0); };
  const bool gpt = arch == DecoderArch::GPT;
  w.tok_embedding = rnd(s.vocab_size, s.dim, 1.0f);
  if (gpt) w.pos_embedding = rnd(s.max_seq_len, s.dim, 0.5f);
  for (int l = 0; l < s.n_layers; ++l) {
    atp::DecoderLayerRef L;
    L.attn_norm_w = norm_w(), L.ffn_norm_w = norm_w();
    L.wq = rnd(Q, s.dim, 0.5f), L.wk = rnd(KV, s.dim, 0.5f), L.wv = rnd(KV, s.dim, 0.5f), L.wo = rnd(s.dim, Q, 0.3f);
    L.w_up = rnd(s.hidden_dim, s.dim, 0.4f), L.w_down = rnd(s.dim, s.hidden_dim, 0.3f);
    if (gpt) {
      L.attn_norm_b = rnd(1, s.dim, 0.1f), L.ffn_norm_b = rnd(1, s.dim, 0.1f);
      L.bq = rnd(1, Q, 0.1f), L.bk = rnd(1, KV, 0.1f), L.bv = rnd(1, KV, 0.1f), L.bo = rnd(1, s.dim, 0.1f);
      L.b_up = rnd(1, s.hidden_dim, 0.1f), L.b_down = rnd(1, s.dim, 0.1f);
    } else {
      L.w_gate = rnd(s.hidden_dim, s.dim, 0.4f);
    }
    w.layers.push_back(L);
  }
  w.final_norm_w = norm_w();
  if (gpt) w.final_norm_b = rnd(1, s.dim, 0.1f), w.lm_head = rnd(s.vocab_size, s.dim, 0.5f);
  return w;
}

double max_abs_diff(const MatrixD& a, const MatrixD& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  return (a - b).cwiseAbs().maxCoeff();
}

// Prefill `split` ids, then the rest one decode step at a time; stack the logits.
MatrixD prefill_then_decode(const DecoderWeightsRef& w, const std::vector<int>& ids, int split) {
  DenseDecoderRef dec(w);
  MatrixD out(static_cast<Eigen::Index>(ids.size()), w.shape.vocab_size);
  out.topRows(split) = dec.forward(std::vector<int>(ids.begin(), ids.begin() + split));
  for (std::size_t t = static_cast<std::size_t>(split); t < ids.size(); ++t)
    out.row(static_cast<Eigen::Index>(t)) = dec.forward({ids[t]});
  CHECK(dec.position() == static_cast<int>(ids.size()));
  return out;
}

}  // namespace

TEST_CASE("fortune-llama.bin: greedy text from BOS is the README's") {
  const std::string path = checkpoint_path();
  if (path.empty()) return;
  const DecoderWeightsRef w = atp::read_llama2c_reference(path);
  // data/README.md's table: dim 64, hidden 172, 5 layers, 8/4 heads, vocab 256 (shared), seq_len 256.
  CHECK(w.shape.dim == 64);
  CHECK(w.shape.hidden_dim == 172);
  CHECK(w.shape.n_layers == 5);
  CHECK(w.shape.n_heads == 8);
  CHECK(w.shape.n_kv_heads == 4);
  CHECK(w.shape.vocab_size == 256);
  CHECK(w.shape.max_seq_len == 256);
  CHECK(w.lm_head.size() == 0);
  const std::string want = "I was a straight of the state of the";
  std::vector<MatrixD> logits;
  const std::vector<int> got = atp::greedy_generate_reference(w, {kBos}, static_cast<int>(want.size()), &logits);
  CHECK(as_text(got) == want);
  REQUIRE(logits.size() == got.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(logits[i].rows() == 1);
    CHECK(atp::argmax_ref(logits[i]) == got[i]);
  }
}

TEST_CASE("fortune-llama.bin: greedy text from BOS + \"A computer \" is the README's") {
  const std::string path = checkpoint_path();
  if (path.empty()) return;
  const DecoderWeightsRef w = atp::read_llama2c_reference(path);
  const std::string prompt = "A computer ", want = "A computer is a programmer than the state of the state of";
  const int steps = static_cast<int>(want.size() - prompt.size());
  CHECK(prompt + as_text(atp::greedy_generate_reference(w, prompt_ids(prompt), steps)) == want);
}

TEST_CASE("KV cache: prefill then decode steps equal one forward of the whole sequence") {
  const std::vector<int> ids{1, 4, 9, 0, 10, 3, 3, 7};
  for (DecoderArch arch : {DecoderArch::Llama, DecoderArch::GPT}) {
    const DecoderWeightsRef w = random_decoder(arch, 4, 2, 7);
    const MatrixD whole = DenseDecoderRef(w).forward(ids);
    for (int split : {1, 3, 7}) CHECK(max_abs_diff(prefill_then_decode(w, ids, split), whole) < 1e-12);
    // Chunks of several ids append too, and reset() starts over.
    DenseDecoderRef dec(w);
    dec.forward({1, 4, 9});
    CHECK(max_abs_diff(dec.forward({0, 10, 3}), whole.middleRows(3, 3)) < 1e-12);
    dec.reset();
    CHECK(dec.position() == 0);
    CHECK(max_abs_diff(dec.forward(ids), whole) < 1e-12);
  }
}

TEST_CASE("KV cache on fortune-llama.bin: prefill then decode steps equal one forward") {
  const std::string path = checkpoint_path();
  if (path.empty()) return;
  const DecoderWeightsRef w = atp::read_llama2c_reference(path);
  const std::vector<int> text = prompt_ids("A computer is a programmer");
  CHECK(max_abs_diff(prefill_then_decode(w, text, 5), DenseDecoderRef(w).forward(text)) < 1e-12);
}

TEST_CASE("a one-layer Llama (dim 4, 2 heads, 1 KV head) matches a hand derivation") {
  // Weights chosen so each head sees one component: q_0 = (x0, 0), q_1 = (0, x1),
  // k = (x0, 0), v = (x2, x3), wo = I; MLP: gate = x0, up = x2, down writes dim 3.
  DecoderWeightsRef w;
  w.shape = {DecoderArch::Llama, 4, 1, 1, 2, 1, 2, 2, 0.0, 10000.0};  // eps 0; d = 2, so angle = pos
  w.tok_embedding = md(2, 4, {1, 1, 1, 1, 1, -1, 1, -1});            // both rows have rms 1
  atp::DecoderLayerRef L;
  L.attn_norm_w = L.ffn_norm_w = MatrixD::Ones(1, 4);
  L.wq = MatrixD::Zero(4, 4), L.wq(0, 0) = 1, L.wq(3, 1) = 1;
  L.wk = MatrixD::Zero(2, 4), L.wk(0, 0) = 1;
  L.wv = MatrixD::Zero(2, 4), L.wv(0, 2) = 1, L.wv(1, 3) = 1;
  L.wo = MatrixD::Identity(4, 4);
  L.w_gate = unit_row(4, 0), L.w_up = unit_row(4, 2), L.w_down = unit_row(4, 3).transpose();
  w.layers = {L};
  w.final_norm_w = MatrixD::Ones(1, 4);
  const MatrixD logits = DenseDecoderRef(w).forward({0, 1});

  const auto silu = [](double z) { return z / (1 + std::exp(-z)); };
  const auto rms = [](double a, double b, double c, double e) {
    return std::sqrt((a * a + b * b + c * c + e * e) / 4);
  };
  // Logits of a final residual x: y = x / rms(x), then y . E_0 and y . E_1.
  const auto logits_of = [&](double a, double b, double c, double e) {
    const double r = rms(a, b, c, e);
    return std::vector<double>{(a + b + c + e) / r, (a - b + c - e) / r};
  };
  // Position 0: one key, so ctx = v = (1, 1) in both heads; x1 = [2, 2, 2, 2];
  // h2 = [1, 1, 1, 1]; MLP adds silu(1) * 1 to dim 3.
  const std::vector<double> p0 = logits_of(2, 2, 2, 2 + silu(1));
  CHECK(logits(0, 0) == doctest::Approx(p0[0]).epsilon(1e-14));
  CHECK(logits(0, 1) == doctest::Approx(p0[1]).epsilon(1e-14));
  // Position 1, x = [1, -1, 1, -1]: q_0 = (1, 0), q_1 = (0, -1), k = (1, 0), v = (1, -1), rotated by angle 1:
  // q_0' = (cos 1, sin 1), q_1' = (sin 1, -cos 1), k_1' = (cos 1, sin 1); k_0 (position 0) is unrotated.
  // Head 0 scores (cos 1, 1) / sqrt 2; head 1 scores (sin 1, 0) / sqrt 2.
  const double c1 = std::cos(1.0), s1 = std::sin(1.0), rt2 = std::sqrt(2.0);
  const double a0 = std::exp(c1 / rt2), a1 = std::exp(1 / rt2), b0 = std::exp(s1 / rt2), b1 = 1.0;
  // ctx_h = P_h0 (1, 1) + P_h1 (1, -1) = (1, P_h0 - P_h1); wo = I.
  const double x1[4] = {2, -1 + (a0 - a1) / (a0 + a1), 2, -1 + (b0 - b1) / (b0 + b1)};
  const double r1 = rms(x1[0], x1[1], x1[2], x1[3]);
  const double m = silu(x1[0] / r1) * (x1[2] / r1);
  const std::vector<double> p1 = logits_of(x1[0], x1[1], x1[2], x1[3] + m);
  CHECK(logits(1, 0) == doctest::Approx(p1[0]).epsilon(1e-14));
  CHECK(logits(1, 1) == doctest::Approx(p1[1]).epsilon(1e-14));
}

TEST_CASE("a one-layer GPT: positions, biases, shared KV head, GELU and LM head match a hand derivation") {
  // All attention and up weights are zero, so q, k, v are their biases for every token: any
  // softmax then averages identical value rows, ctx = bv in each head's group. The residual is
  //   x = tok[id] + pos[p] + (ctx wo^T + bo) + (gelu(b_up) w_down^T + b_down),
  // and the logits are LayerNorm(x) . lm_head rows.
  DecoderWeightsRef w;
  w.shape = {DecoderArch::GPT, 4, 2, 1, 2, 1, 3, 3, 1e-5, 10000.0};
  w.tok_embedding = md(3, 4, {1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3});
  w.pos_embedding = md(3, 4, {0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0, -1, 0});
  atp::DecoderLayerRef L;
  L.attn_norm_w = L.ffn_norm_w = md(1, 4, {1, 2, 3, 4});
  L.attn_norm_b = L.ffn_norm_b = md(1, 4, {0.5, 0, 0, 0});
  L.wq = MatrixD::Zero(4, 4), L.wk = L.wv = MatrixD::Zero(2, 4);
  L.bq = md(1, 4, {1, 2, 3, 4}), L.bk = md(1, 2, {-1, 1}), L.bv = md(1, 2, {0.25, -0.75});
  L.wo = md(4, 4, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2});
  L.bo = md(1, 4, {0, 0.125, 0, 0});
  L.w_up = MatrixD::Zero(2, 4), L.b_up = md(1, 2, {1, -2});
  L.w_down = md(4, 2, {1, 0, 0, 1, 1, 1, 0, 0}), L.b_down = md(1, 4, {0, 0, 0, 0.5});
  w.layers = {L};
  w.final_norm_w = md(1, 4, {1, -1, 2, 1}), w.final_norm_b = md(1, 4, {0, 0, 0.25, 0});
  w.lm_head = md(3, 4, {1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1});
  const std::vector<int> ids{2, 2, 0};
  const MatrixD logits = DenseDecoderRef(w).forward(ids);

  const auto gelu = [](double u) {  // the textbook tanh form
    return 0.5 * u * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (u + 0.044715 * u * u * u)));
  };
  const double g0 = gelu(1), g1 = gelu(-2);
  // ctx = (bv, bv) = [0.25, -0.75, 0.25, -0.75]; through wo (diag 1, 1, 1, 2) plus bo:
  const double attn[4] = {0.25, -0.75 + 0.125, 0.25, -1.5};
  const double mlp[4] = {g0, g1, g0 + g1, 0.5};  // w_down rows (1,0), (0,1), (1,1), (0,0); b_down
  for (int t = 0; t < 3; ++t) {
    double x[4], mean = 0, var = 0;
    for (int j = 0; j < 4; ++j) x[j] = w.tok_embedding(ids[t], j) + w.pos_embedding(t, j) + attn[j] + mlp[j];
    for (double v : x) mean += v / 4;
    for (double v : x) var += (v - mean) * (v - mean) / 4;
    double y[4];
    for (int j = 0; j < 4; ++j)
      y[j] = (x[j] - mean) / std::sqrt(var + 1e-5) * w.final_norm_w(0, j) + w.final_norm_b(0, j);
    CHECK(logits(t, 0) == doctest::Approx(y[0]).epsilon(1e-13));
    CHECK(logits(t, 1) == doctest::Approx(y[1]).epsilon(1e-13));
    CHECK(logits(t, 2) == doctest::Approx(y[0] + y[1] + y[2] + y[3]).epsilon(1e-13));
  }
  CHECK(std::abs(logits(0, 0) - logits(1, 0)) > 0.01);  // same token, different position
}

TEST_CASE("GQA: query head h reads KV head h / (n_heads / n_kv_heads)") {
  // A GQA model (4 query heads, 2 KV heads) equals the multi-head model whose KV head h is a copy
  // of the GQA's KV head h / 2, and differs from the one that copies KV head h % 2.
  const DecoderWeightsRef gqa = random_decoder(DecoderArch::Llama, 4, 2, 11);
  const int d = gqa.shape.head_dim();
  const auto replicate = [&](auto source_of) {
    DecoderWeightsRef mha = gqa;
    mha.shape.n_kv_heads = 4;
    for (std::size_t l = 0; l < gqa.layers.size(); ++l)
      for (auto member : {&atp::DecoderLayerRef::wk, &atp::DecoderLayerRef::wv}) {
        MatrixD m(4 * d, gqa.shape.dim);
        for (int h = 0; h < 4; ++h) m.middleRows(h * d, d) = (gqa.layers[l].*member).middleRows(source_of(h) * d, d);
        mha.layers[l].*member = m;
      }
    return mha;
  };
  const std::vector<int> ids{3, 1, 4, 1, 5};
  const MatrixD want = DenseDecoderRef(gqa).forward(ids);
  CHECK(max_abs_diff(DenseDecoderRef(replicate([](int h) { return h / 2; })).forward(ids), want) < 1e-12);
  CHECK(max_abs_diff(DenseDecoderRef(replicate([](int h) { return h % 2; })).forward(ids), want) > 1e-3);
}

TEST_CASE("RoPE: interleaved pairs, position 0 is the identity, q_m . k_n depends only on m - n") {
  const MatrixD x = atp::widen_ref(atp::random_matrix(1, 16, 5, 0));  // 2 heads of d = 8
  CHECK(atp::rope_rows_ref(x, 8, 0, 10000.0) == x);
  // Pair 1 of a head is (x2, x3), rotated by pos * 10000^(-2/4) = pos / 100 when d = 4.
  const MatrixD e2 = unit_row(8, 6);  // head 1, component 2
  const MatrixD r = atp::rope_rows_ref(e2, 4, 50, 10000.0);
  CHECK(r(0, 6) == doctest::Approx(std::cos(0.5)).epsilon(1e-15));
  CHECK(r(0, 7) == doctest::Approx(std::sin(0.5)).epsilon(1e-15));
  CHECK(r.leftCols(6).isZero(0.0));
  // Pair 0 rotates by pos itself: (1, 0) at position 1 becomes (cos 1, sin 1).
  const MatrixD r0 = atp::rope_rows_ref(unit_row(2, 0), 2, 1, 10000.0);
  CHECK(r0(0, 0) == doctest::Approx(std::cos(1.0)).epsilon(1e-15));
  CHECK(r0(0, 1) == doctest::Approx(std::sin(1.0)).epsilon(1e-15));
  // Rows are positions first_position, first_position + 1, ...
  const MatrixD two = atp::rope_rows_ref(MatrixD(x.replicate(2, 1)), 8, 6, 10000.0);
  CHECK(max_abs_diff(two.row(1), atp::rope_rows_ref(x, 8, 7, 10000.0)) < 1e-15);
  // Relative positions: a rotation preserves dot products of the same offset.
  const MatrixD q = x.leftCols(8), k = atp::widen_ref(atp::random_matrix(1, 8, 5, 1));
  const auto dot_at = [&](int m, int n) {
    return atp::rope_rows_ref(q, 8, m, 10000.0).row(0).dot(atp::rope_rows_ref(k, 8, n, 10000.0).row(0));
  };
  for (int delta : {0, 1, 5}) {
    const double base = dot_at(delta, 0);
    CHECK(std::abs(dot_at(delta + 3, 3) - base) < 1e-12);
    CHECK(std::abs(dot_at(delta + 200, 200) - base) < 1e-12);
  }
  CHECK(std::abs(dot_at(1, 0) - dot_at(2, 0)) > 1e-3);
  CHECK(contains(error_of([&] { atp::rope_rows_ref(x, 3, 0, 10000.0); }), "head_dim 3"));
}

TEST_CASE("argmax_ref breaks ties to the lowest id") {
  CHECK(atp::argmax_ref(md(1, 4, {2, 5, 5, -1})) == 1);
  CHECK(atp::argmax_ref(md(1, 3, {7, 7, 7})) == 0);
  CHECK(contains(error_of([] { atp::argmax_ref(md(1, 2, {1, std::nan("")})); }), "NaN"));
}

TEST_CASE("bad ids, positions, prompts, steps and weights get clear errors") {
  const DecoderWeightsRef w = random_decoder(DecoderArch::Llama, 4, 2, 3);  // vocab 11, max_seq_len 9
  DenseDecoderRef dec(w);
  CHECK(contains(error_of([&] { dec.forward({}); }), "empty"));
  CHECK(contains(error_of([&] { dec.forward({2, 11}); }), "ids[1] = 11"));
  CHECK(contains(error_of([&] { dec.forward({-1}); }), "valid ids are 0 .. 10"));
  dec.forward({1, 2, 3, 4, 5, 6});
  CHECK(contains(error_of([&] { dec.forward({1, 2, 3, 4}); }), "positions 6 .. 9 run past max_seq_len 9"));
  CHECK(dec.position() == 6);  // a refused call leaves the cache as it was
  CHECK(contains(error_of([&] { atp::greedy_generate_reference(w, {}, 3); }), "prompt is empty"));
  CHECK(contains(error_of([&] { atp::greedy_generate_reference(w, {1}, -1); }), "steps = -1"));
  CHECK(contains(error_of([&] { atp::greedy_generate_reference(w, {1, 2}, 9); }), "need 10 positions"));
  CHECK(atp::greedy_generate_reference(w, {1, 2}, 8).size() == 8);  // exactly fills the 9 positions
  CHECK(atp::greedy_generate_reference(w, {1, 2}, 0).empty());

  DecoderWeightsRef bad = w;
  bad.layers[1].wk = MatrixD::Zero(5, 16);
  CHECK(contains(error_of([&] { DenseDecoderRef{bad}; }), "layers[1].wk is (5, 16), expected (8, 16)"));
  bad = w;
  bad.layers[0].bq = MatrixD::Zero(1, 16);
  CHECK(contains(error_of([&] { DenseDecoderRef{bad}; }), "layers[0].bq"));
  bad = w;
  bad.shape.n_kv_heads = 3;
  CHECK(contains(error_of([&] { DenseDecoderRef{bad}; }), "n_kv_heads must divide n_heads"));
  bad = random_decoder(DecoderArch::GPT, 4, 4, 3);
  bad.pos_embedding.resize(0, 0);
  CHECK(contains(error_of([&] { DenseDecoderRef{bad}; }), "pos_embedding"));
}
