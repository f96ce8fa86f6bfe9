/// \file test_trace.cpp
/// \brief What the simulator records about a run: trace events and bytes per
///        rank for every collective, matmul flops, the memory ledger, and the
///        narrator's text.
///
/// Byte counts are checked against the formulas of collectives.hpp, written
/// out again here (or as literal numbers for the uneven ring), at p = 1, 2, 4.
#include "test_util.hpp"

#include <doctest/doctest.h>

#include "atp/rng.hpp"
#include "atp/sim/collectives.hpp"
#include "atp/sim/compute.hpp"
#include "atp/sim/memory.hpp"
#include "atp/sim/narrate.hpp"
#include "atp/sim/sharding.hpp"
#include "atp/sim/world.hpp"
#include "atp/ulp.hpp"

#include <cmath>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using atp::Matrix;
using namespace atp::sim;

using atp::test::contains;
using atp::test::error_of;

namespace {

PerRank<Matrix> inputs(int p, Eigen::Index R, Eigen::Index C) {
  return make_per_rank(p, [&](int r) { return atp::random_matrix(R, C, 3, static_cast<std::uint64_t>(r), 0.5f); });
}



/// Checks one call's events: one per rank, in rank order, sharing a call id, with these bytes and flops.
void check_events(const Trace& trace, const std::string& op, const std::vector<std::int64_t>& sent,
                  const std::vector<std::int64_t>& received, const std::vector<std::int64_t>& flops) {
  CAPTURE(op);
  const auto events = trace.events(op);
  REQUIRE(events.size() == sent.size());
  CHECK(trace.count(op) == 1);
  for (std::size_t r = 0; r < events.size(); ++r) {
    CAPTURE(r);
    CHECK(events[r].rank == static_cast<int>(r));
    CHECK(events[r].call == events[0].call);
    CHECK(trace.count(op, static_cast<int>(r)) == 1);
    CHECK(events[r].bytes_sent == sent[r]);
    CHECK(events[r].bytes_received == received[r]);
    CHECK(events[r].flops == flops[r]);
  }
}

std::vector<std::int64_t> same(int p, std::int64_t v) { return std::vector<std::int64_t>(static_cast<std::size_t>(p), v); }

}  // namespace

TEST_CASE("trace: bytes and adds per rank of every collective, p = 1, 2, 4") {
  for (int p : {1, 2, 4}) {
    CAPTURE(p);
    World world(p);
    const std::int64_t N = 4 * 8;  // elements per rank
    const std::int64_t B = 4 * N;  // bytes per rank
    const auto x = inputs(p, 4, 8);

    all_reduce_rank_order(world, x, "a");
    check_events(world.trace(), "all_reduce_rank_order", same(p, B * (p - 1)), same(p, B * (p - 1)),
                 same(p, N * (p - 1)));
    all_reduce_ring(world, x, "b");
    check_events(world.trace(), "all_reduce_ring", same(p, 2 * (p - 1) * (N / p) * 4),
                 same(p, 2 * (p - 1) * (N / p) * 4), same(p, (p - 1) * (N / p)));
    all_gather(world, x, Axis::Cols, "c");
    check_events(world.trace(), "all_gather", same(p, B * (p - 1)), same(p, B * (p - 1)), same(p, 0));
    reduce_scatter(world, x, Axis::Rows, "d");
    check_events(world.trace(), "reduce_scatter", same(p, B * (p - 1) / p), same(p, B * (p - 1) / p),
                 same(p, N * (p - 1) / p));

    // Ring broadcast from root 1 % p: the rank before the root forwards nothing.
    const int root = 1 % p;
    std::vector<std::int64_t> b_sent = same(p, p > 1 ? B : 0), b_recv = same(p, p > 1 ? B : 0);
    b_sent[static_cast<std::size_t>((root + p - 1) % p)] = 0;
    b_recv[static_cast<std::size_t>(root)] = 0;
    broadcast(world, x, root, "e");
    check_events(world.trace(), "broadcast", b_sent, b_recv, same(p, 0));

    std::vector<std::int64_t> g_sent = same(p, B), g_recv = same(p, 0);
    g_sent[static_cast<std::size_t>(root)] = 0;
    g_recv[static_cast<std::size_t>(root)] = B * (p - 1);
    gather(world, x, root, Axis::Rows, "f");
    check_events(world.trace(), "gather", g_sent, g_recv, same(p, 0));

    // Shapes per rank: all_gather along cols makes (4, 8p) from (4, 8).
    const auto ag = world.trace().events("all_gather");
    CHECK(ag[0].shape_in == std::vector<std::int64_t>{4, 8});
    CHECK(ag[0].shape_out == std::vector<std::int64_t>{4, 8 * p});

    // Totals per rank add up the six calls.
    for (int r = 0; r < p; ++r) {
      std::int64_t sent = 0;
      for (const auto& e : world.trace().events())
        if (e.rank == r) sent += e.bytes_sent;
      CHECK(world.trace().bytes_sent(r) == sent);
      CHECK(world.trace().bytes_sent(r, "all_gather") == B * (p - 1));
    }
    CHECK(world.trace().events().size() == static_cast<std::size_t>(6 * p));
    world.trace().clear();
    CHECK(world.trace().events().empty());
    CHECK(world.trace().count("all_gather") == 0);
  }
}

TEST_CASE("trace: ring bytes follow the uneven chunks when p does not divide n") {
  // n = 15 over p = 4: chunks of 4, 4, 4, 3 elements. Rank r sends every chunk
  // but r in reduce-scatter and every chunk but r+1 in all-gather; it receives
  // every chunk but r-1, then every chunk but r; it adds what it receives first.
  World world(4);
  all_reduce_ring(world, inputs(4, 3, 5), "odd");
  check_events(world.trace(), "all_reduce_ring", {4 * (11 + 11), 4 * (11 + 11), 4 * (11 + 12), 4 * (12 + 11)},
               {4 * (12 + 11), 4 * (11 + 11), 4 * (11 + 11), 4 * (11 + 12)}, {12, 11, 11, 11});
}

TEST_CASE("trace: matmul flops, the traced linear layer, summary") {
  World world(2);
  record_matmul(world, 1, 3, 5, 7, "probe");
  const auto mm = world.trace().events("matmul");
  REQUIRE(mm.size() == 1);
  CHECK(mm[0].rank == 1);
  CHECK(mm[0].flops == 2 * 3 * 5 * 7);
  CHECK(mm[0].shape_in == std::vector<std::int64_t>{3, 7});
  CHECK(mm[0].shape_out == std::vector<std::int64_t>{3, 5});
  CHECK(contains(error_of([&] { record_matmul(world, 2, 1, 1, 1, "bad"); }), "rank 2 out of range"));

  // linear on both ranks: y = x W^T + b, checked against an explicit fma loop.
  const auto x = inputs(2, 3, 6);
  const auto W = make_per_rank(2, [](int r) { return atp::random_matrix(4, 6, 9, static_cast<std::uint64_t>(r)); });
  const auto b = make_per_rank(2, [](int r) { return atp::random_matrix(1, 4, 10, static_cast<std::uint64_t>(r)); });
  const auto y = linear(world, x, W, &b, "fc");
  for (int r = 0; r < 2; ++r)
    for (Eigen::Index t = 0; t < 3; ++t)
      for (Eigen::Index o = 0; o < 4; ++o) {
        float acc = 0.0f;
        for (Eigen::Index k = 0; k < 6; ++k) acc = std::fma(x[r](t, k), W[r](o, k), acc);
        REQUIRE(atp::float_bits(y[r](t, o)) == atp::float_bits(acc + b[r](0, o)));
      }
  CHECK(world.trace().count("matmul") == 3);
  CHECK(world.trace().count("matmul", 1) == 2);
  CHECK(world.trace().flops(0) == 2 * 3 * 4 * 6);
  CHECK(world.trace().flops(1) == 2 * 3 * 5 * 7 + 2 * 3 * 4 * 6);

  all_reduce_ring(world, y, "fc.out");
  const std::string s = world.trace().summary();
  CHECK(contains(s, "op"));
  CHECK(contains(s, "matmul                          3"));
  CHECK(contains(s, "all_reduce_ring                 1"));
  CHECK(contains(s, "rank 1"));
}

TEST_CASE("memory ledger: bytes per rank and kind, release, errors, table") {
  const int p = 4;
  MemoryLedger ledger(p);
  const auto W = split_cols(atp::random_matrix(8, 12, 1, 0), p);  // (8, 3) per rank: 96 bytes
  for (int r = 0; r < p; ++r) {
    ledger.hold(r, MemoryKind::Weight, "W", W[r]);
    ledger.hold(r, MemoryKind::Activation, "x", 40);
  }
  ledger.hold(2, MemoryKind::KVCache, "kv", 1000);
  CHECK(ledger.bytes(0, MemoryKind::Weight) == 8 * 3 * 4);
  CHECK(ledger.bytes(2, MemoryKind::KVCache) == 1000);
  CHECK(ledger.bytes(3, MemoryKind::KVCache) == 0);
  CHECK(ledger.total(2) == 96 + 40 + 1000);
  ledger.release(2, "kv");
  CHECK(ledger.total(2) == 96 + 40);

  CHECK(contains(error_of([&] { ledger.hold(4, MemoryKind::Weight, "W", 1); }), "rank 4 out of range; valid ranks are 0..3"));
  CHECK(contains(error_of([&] { ledger.hold(0, MemoryKind::Weight, "W", 1); }), "rank 0 already holds 'W'"));
  CHECK(contains(error_of([&] { ledger.hold(0, MemoryKind::Weight, "b", -8); }), "-8 bytes"));
  CHECK(contains(error_of([&] { ledger.release(1, "kv"); }), "rank 1 holds nothing named 'kv'"));

  const std::string t = ledger.table();
  CHECK(contains(t, "rank           weight     activation       kv_cache          total\n"));
  CHECK(contains(t, "0                  96             40              0            136\n"));
  CHECK(std::string(kind_name(MemoryKind::KVCache)) == "kv_cache");

  World world(2);  // the world owns one too
  world.memory().hold(1, MemoryKind::Weight, "emb", 64);
  CHECK(world.memory().total(1) == 64);
}

TEST_CASE("narrator: per-rank matrices, truncated, captured line by line") {
  World world(3);
  std::ostringstream out;
  NarrateOptions options;
  options.max_rows = 2;
  options.max_cols = 3;
  world.narrate_to(out, options);

  Matrix a(1, 2);
  a << 0.125f, -0.5f;
  Matrix b(3, 4);
  for (Eigen::Index i = 0; i < 12; ++i) b.data()[i] = static_cast<float>(i) / 8.0f;
  const PerRank<Matrix> x(std::vector<Matrix>{a, b, Matrix(0, 0)});
  narrate(world, "x after split", x);
  narrate_text(world, "every rank now holds its shard");
  CHECK(out.str() ==
        "== x after split ==\n"
        "rank 0 (1, 2): [   0.1250  -0.5000 ]\n"
        "rank 1 (3, 4):\n"
        "  [   0.0000   0.1250   0.2500 ... ]\n"
        "  [   0.5000   0.6250   0.7500 ... ]\n"
        "  ...\n"
        "rank 2 (0, 0): (empty)\n"
        "every rank now holds its shard\n");
}

TEST_CASE("narrator: the ring prints its steps when on, and nothing is printed when off") {
  World world(4);
  std::ostringstream out;
  const auto x = inputs(4, 2, 4);  // n = 8: chunks of 2

  world.narrate_to(out);
  world.stop_narrating();
  all_reduce_ring(world, x, "h");
  narrate(world, "silent", x);
  CHECK(out.str().empty());

  world.narrate_to(out);
  all_reduce_ring(world, x, "h");
  std::vector<std::string> lines;
  std::istringstream in(out.str());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 1u + 2u * 3u * 4u);
  CHECK(lines[0] == "all_reduce_ring 'h': 8 elements in 4 chunks of up to 2");
  CHECK(lines[1] == "  reduce-scatter step 0: rank 0 -> rank 1 chunk 3 [6, 8)");
  CHECK(lines[4] == "  reduce-scatter step 0: rank 3 -> rank 0 chunk 2 [4, 6)");
  CHECK(lines[13] == "  all-gather step 0: rank 0 -> rank 1 chunk 0 [0, 2)");
  CHECK(lines[24] == "  all-gather step 2: rank 3 -> rank 0 chunk 1 [2, 4)");
}

TEST_CASE("narrator: ranks that hold the previous rank's bits are named once, not printed again") {
  World world(4);
  std::ostringstream out;
  world.narrate_to(out);
  Matrix a(1, 2), b(1, 2), z(1, 2);
  a << 0.125f, -0.5f;
  b << 0.25f, 1.0f;
  z << -0.0f, 0.0f;
  Matrix z_pos(1, 2);
  z_pos << 0.0f, 0.0f;  // equal to z as numbers, not in bits: must be printed
  narrate(world, "same", PerRank<Matrix>(std::vector<Matrix>{a, a, a, a}));
  narrate(world, "mixed", PerRank<Matrix>(std::vector<Matrix>{a, b, b, a}));
  narrate(world, "zeros", PerRank<Matrix>(std::vector<Matrix>{z, z_pos, z_pos, z_pos}));
  CHECK(out.str() ==
        "== same ==\n"
        "rank 0 (1, 2): [   0.1250  -0.5000 ]\n"
        "ranks 1-3: the same bits as rank 0\n"
        "== mixed ==\n"
        "rank 0 (1, 2): [   0.1250  -0.5000 ]\n"
        "rank 1 (1, 2): [   0.2500   1.0000 ]\n"
        "rank 2: the same bits as rank 1\n"
        "rank 3 (1, 2): [   0.1250  -0.5000 ]\n"
        "== zeros ==\n"
        "rank 0 (1, 2): [  -0.0000   0.0000 ]\n"
        "rank 1 (1, 2): [   0.0000   0.0000 ]\n"
        "ranks 2-3: the same bits as rank 1\n");

  std::ostringstream full;
  NarrateOptions every;
  every.collapse_identical = false;
  world.narrate_to(full, every);
  narrate(world, "same", PerRank<Matrix>(std::vector<Matrix>{a, a, a, a}));
  CHECK(contains(full.str(), "rank 3 (1, 2): [   0.1250  -0.5000 ]"));
}

TEST_CASE("narrator: the rank-order all-reduce writes its sum out for small p, and says p = 1 adds nothing") {
  const std::vector<std::pair<int, std::string>> want = {
      {1, "all_reduce_rank_order 'y': one rank, nothing to send or add: the output is x0"},
      {2, "all_reduce_rank_order 'y': all-gather (1, 2) from 2 ranks, then every rank sums x0 + x1"},
      {3, "all_reduce_rank_order 'y': all-gather (1, 2) from 3 ranks, then every rank sums (x0 + x1) + x2"},
      {4, "all_reduce_rank_order 'y': all-gather (1, 2) from 4 ranks, then every rank sums ((x0 + x1) + x2) + x3"},
      {8, "all_reduce_rank_order 'y': all-gather (1, 2) from 8 ranks, then every rank sums ((x0 + x1) + ...) + x7"}};
  for (const auto& [p, line] : want) {
    World world(p);
    std::ostringstream out;
    world.narrate_to(out);
    all_reduce_rank_order(world, replicate(Matrix::Ones(1, 2), p), "y");
    INFO("p = " << p);
    CHECK(out.str().rfind(line + "\n", 0) == 0);
  }
}

TEST_CASE("trace summary: the per-op block and the per-rank block each say what they sum") {
  World world(2);
  all_reduce_ring(world, replicate(Matrix::Ones(2, 4), 2), "h");
  const std::string s = world.trace().summary();
  CHECK(contains(s, "op (sum over ranks)"));
  CHECK(contains(s, "rank (sum over ops)"));
  CHECK(s.find("op (sum over ranks)") < s.find("all_reduce_ring"));
  CHECK(s.find("all_reduce_ring") < s.find("rank (sum over ops)"));
  CHECK(s.find("rank (sum over ops)") < s.find("rank 0 "));
}
