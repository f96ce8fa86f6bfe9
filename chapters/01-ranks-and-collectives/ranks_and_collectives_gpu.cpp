/// \file ranks_and_collectives_gpu.cpp
/// \brief Chapter 1, GPU half: one rank of p real processes, running the same
/// collectives on the same inputs as ranks_and_collectives.cpp, over NCCL, and
/// dumping its tensors under the same names so atp-compare can check every bit.
///
/// Run: `atp-launch -p 4 -- atp-ch01-ranks-and-collectives-gpu [--rows 2] [--cols 8] [--seed 2026]
///       [--dump DIR] [--bench]`
///
/// Legend: p = ranks, R x C = the matrix each rank holds, N = R*C elements.
///
/// Rank r's tensors (each rank writes its own dump, DIR/rank<r>/, because the
/// ranks are separate processes; atp-compare merges them):
///
///     x.rank<r>                      (R, C)    input, atp::random_matrix(R, C, seed, r, 1/3)
///     all_reduce_rank_order.rank<r>  (R, C)    ((x0 + x1) + ...) on every rank
///     all_reduce_ring.rank<r>        (R, C)    NCCL's ring order, from send/recv steps
///     all_reduce_native.rank<r>      (R, C)    ncclAllReduce: NCCL's own order (no CPU twin)
///     all_gather.rank<r>             (R, pC)   along columns
///     reduce_scatter.rank<r>         (R, C/p)  along columns, when p divides C
///     broadcast.rank<r>              (R, C)    rank 0's x
///     gather                         (pR, C)   on rank 0 only, along rows
///
/// --bench prints an nccl-tests style table (size, time, algbw, busbw,
/// #wrong) of the three all-reduce forms; its inputs are small integers, so
/// every order sums them exactly and #wrong counts lost or misplaced data.
/// Leaves out: the narration and trace of the CPU chapter (the simulator
/// tells the story; this file proves the GPU computes the same bits).
#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/worker.hpp"
#include "atp/rng.hpp"
#include "atp/sim/bandwidth.hpp"
#include "atp/sim/cli.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/memory_budget.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace cu = atp::cuda;
namespace sim = atp::sim;
using atp::Matrix;

namespace {

/// Rank r's input x_r (R, C), exactly as the CPU chapter's make_inputs().
Matrix make_input(int rank, int rows, int cols, std::uint64_t seed) {
  return atp::random_matrix(rows, cols, seed, static_cast<std::uint64_t>(rank), 1.0f / 3.0f);
}

/// The three all-reduces of sections 1-2 (and native, which the CPU lacks).
void all_reduces(cu::Communicator& comm, const Matrix& x, sim::Dumper* dump) {
  const int r = comm.rank();
  const struct {
    cu::AllReduceForm form;
    const char* name;
  } forms[] = {{cu::AllReduceForm::RankOrder, "all_reduce_rank_order"},
               {cu::AllReduceForm::Ring, "all_reduce_ring"},
               {cu::AllReduceForm::Native, "all_reduce_native"}};
  for (const auto& f : forms) {
    cu::DeviceMatrix d = cu::to_device(x);
    cu::all_reduce(comm, d, f.form);
    if (dump) dump->add(sim::Dumper::rank_name(f.name, r), cu::to_host(d), "output", r);
  }
}

/// Section 3: the collectives that only move bits (and reduce-scatter, which adds).
void data_movement(cu::Communicator& comm, const Matrix& x, sim::Dumper* dump) {
  const int r = comm.rank(), p = comm.world_size();
  const cu::DeviceMatrix dx = cu::to_device(x);
  const Matrix gathered = cu::to_host(cu::all_gather(comm, dx, cu::Axis::Cols));
  if (dump) dump->add(sim::Dumper::rank_name("all_gather", r), gathered, "output", r);
  if (x.cols() % p == 0) {
    const Matrix scattered = cu::to_host(cu::reduce_scatter(comm, dx, cu::Axis::Cols));
    if (dump) dump->add(sim::Dumper::rank_name("reduce_scatter", r), scattered, "output", r);
  }
  cu::DeviceMatrix b = cu::to_device(x);
  cu::broadcast(comm, b, 0);
  if (dump) dump->add(sim::Dumper::rank_name("broadcast", r), cu::to_host(b), "output", r);
  const cu::DeviceMatrix g = cu::gather(comm, dx, 0, cu::Axis::Rows);
  if (dump && r == 0) dump->add("gather", cu::to_host(g), "output", 0);
}

/// nccl-tests style timing of the three all-reduce forms; rank 0 prints.
void bench(cu::Communicator& comm) {
  const int r = comm.rank(), p = comm.world_size();
  constexpr int kWarmup = 2, kIters = 10;
  if (r == 0)
    std::printf("\nall_reduce on p=%d ranks (fp32, in place, %d iterations after %d warm-up)\n"
                "%12s %10s %-11s %10s %12s %12s %7s\n",
                p, kIters, kWarmup, "size(B)", "count", "form", "time(us)", "algbw(GB/s)", "busbw(GB/s)", "#wrong");
  for (std::size_t n = std::size_t{1} << 10; n <= (std::size_t{1} << 24); n <<= 2) {
    // Small integers: every order sums them exactly, so the expected value is known.
    auto value = [](std::size_t i, int rank) {
      return static_cast<float>(static_cast<int>((i + static_cast<std::size_t>(rank)) % 5) - 2);
    };
    std::vector<float> host(n), expected(n);
    for (std::size_t i = 0; i < n; ++i) {
      host[i] = value(i, r);
      float sum = 0.0f;
      for (int q = 0; q < p; ++q) sum += value(i, q);
      expected[i] = sum;
    }
    for (cu::AllReduceForm form : {cu::AllReduceForm::Native, cu::AllReduceForm::RankOrder, cu::AllReduceForm::Ring}) {
      cu::DeviceBuffer<float> buf(n);
      for (int it = 0; it < kWarmup; ++it) {
        buf.upload(host.data(), n, comm.stream());
        cu::all_reduce(comm, buf.data(), n, form);
      }
      // One result to check; then time in-place repeats (values grow, but stay exact integers for a while).
      buf.upload(host.data(), n, comm.stream());
      cu::all_reduce(comm, buf.data(), n, form);
      std::vector<float> got(n);
      buf.download(got.data(), n, comm.stream());
      long long wrong = 0;
      for (std::size_t i = 0; i < n; ++i) wrong += got[i] != expected[i];
      const auto t0 = std::chrono::steady_clock::now();
      for (int it = 0; it < kIters; ++it) cu::all_reduce(comm, buf.data(), n, form);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / kIters;
      const double bytes = static_cast<double>(n * sizeof(float));
      if (r == 0)
        std::printf("%12.0f %10zu %-11s %10.1f %12.2f %12.2f %7lld\n", bytes, n, cu::to_string(form), seconds * 1e6,
                    sim::algorithm_bandwidth(bytes, seconds) / 1e9,
                    sim::bus_bandwidth(sim::CollectiveKind::AllReduce, p, bytes, seconds) / 1e9, wrong);
    }
  }
}

/// This rank's largest host tensors, for sim::require_memory (memory_budget.hpp):
/// the all-gather results (p R, C) and the inputs it recomputes for every rank.
sim::MemoryEstimate memory_needed(int p, int rows, int cols) {
  sim::MemoryEstimate need;
  need.add("gathered results and every rank's inputs (p R, C) on this rank", {p, rows, cols}, 8);
  return need;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 1, GPU half: one rank of the collectives over NCCL (run under atp-launch)."};
  int tp = 0, rows = 2, cols = 8;
  std::uint64_t seed = 2026;
  bool run_bench = false;
  std::string dump_dir;
  namespace cli = atp::sim::cli;
  cli::add_tp(app, tp, 64, "expected number of ranks p (checked against atp-launch's)", "the p atp-launch started");
  cli::add_integer(app, "--rows", rows, 1, 4096, "rows R of each rank's matrix");
  cli::add_integer(app, "--cols", cols, 1, 4096, "columns C of each rank's matrix");
  cli::add_seed(app, seed);
  cli::add_dump(app, dump_dir, "write this rank's tensors into DIR/rank<r>/ (.npy plus manifest.json)");
  cli::add_flag(app, "--bench", run_bench, "print an nccl-tests style table of the all-reduce forms");
  if (const auto rc = cli::parse(app, argc, argv)) return *rc;

  int rank = -1;
  try {
    sim::require_memory(memory_needed(tp == 0 ? 1 : tp, rows, cols), "this configuration");  // before anything big is built
    cu::Communicator comm = cu::join_world(tp);
    rank = comm.rank();
    const int p = comm.world_size();
    std::unique_ptr<sim::Dumper> dump;
    if (!dump_dir.empty())
      dump = std::make_unique<sim::Dumper>(
          cu::rank_dump_dir(dump_dir, rank),
          nlohmann::json{{"chapter", 1}, {"p", p}, {"rows", rows}, {"cols", cols}, {"seed", seed}, {"side", "gpu"}});
    const Matrix x = make_input(rank, rows, cols, seed);
    if (dump) dump->add(sim::Dumper::rank_name("x", rank), x, "input", rank);
    all_reduces(comm, x, dump.get());
    data_movement(comm, x, dump.get());
    if (dump) dump->finish();
    if (rank == 0)
      std::printf("Chapter 1 (GPU): p=%d ranks, each holds (%d, %d), seed=%llu: all collectives ran on %s%s\n", p,
                  rows, cols, static_cast<unsigned long long>(seed), comm.describe().c_str(),
                  dump ? ", tensors dumped" : "");
    if (run_bench) bench(comm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-ch01-ranks-and-collectives-gpu (rank %d): %s\n", rank, e.what());
    return 1;
  }
  return 0;
}
