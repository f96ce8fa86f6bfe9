/// \file sequence_parallelism_gpu.cpp
/// \brief Chapter 12, GPU half: one rank of p real processes running the
/// chapter's blocks tensor-parallel and sequence-parallel, dumping
/// tp_output.rank<r> and sp_output.rank<r> as the CPU binary does, so
/// atp-compare can check every bit.
///
/// Run: `atp-launch -p 4 -- atp-ch12-sequence-parallelism-gpu [--tokens 24] [--hidden 96] [--intermediate 192]
///       [--heads 24] [--kv-heads 24] [--layers 2] [--order rank-order|tree] [--seed 2026] [--dump DIR]`
///
/// The block is sp_block.hpp's, on the device: cuda::rmsnorm_rows (the same
/// atp::rmsnorm_row per row), cuda::ParallelAttention and cuda::ParallelGatedMLP
/// with sequence_parallel (an all-gather in, a reduce-scatter out), and
/// launch_add for the residuals. Designed to be bitwise equal to the
/// simulator; verified on a GPU: not yet. Leaves out: the trace, the ledger
/// and the narration (the CPU chapter tells that story).
#include "sp_block.hpp"

#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/cuda/kernels.hpp"
#include "atp/cuda/layers/parallel_attention.hpp"
#include "atp/cuda/layers/parallel_mlp.hpp"
#include "atp/cuda/ops.hpp"
#include "atp/cuda/worker.hpp"
#include "atp/sim/dump.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace cu = atp::cuda;
namespace sim = atp::sim;
using atp::Matrix;

namespace {

/// y = a + b, same shape, on comm's stream.
cu::DeviceMatrix add(cu::Communicator& comm, const cu::DeviceMatrix& a, const cu::DeviceMatrix& b) {
  cu::DeviceMatrix y(a.rows(), a.cols());
  cu::launch_add(a.data(), b.data(), y.data(), a.size(), comm.stream());
  return y;
}

/// L blocks on this rank: x is (T, H) (TP) or this rank's (T/p, H) (SP); returns the same layout.
cu::DeviceMatrix run_blocks(cu::Communicator& comm, const std::vector<atp::ch12::BlockWeights>& layers,
                            const atp::ch12::BlockSizes& s, cu::DeviceMatrix x, bool sp, cu::AllReduceForm form) {
  const int rank = comm.rank(), p = comm.world_size();
  for (const auto& w : layers) {
    cu::ParallelAttentionOptions ao;
    ao.causal = true;
    ao.form = form;
    ao.sequence_parallel = sp;
    cu::ParallelMLPOptions mo;
    mo.form = form;
    mo.sequence_parallel = sp;
    const auto attn = cu::ParallelAttention::from_masters(w.attn, s.heads, s.kv_heads, rank, p, ao);
    const auto mlp = cu::ParallelGatedMLP::from_master(w.W_gate, w.W_up, w.W_down, rank, p, mo);
    const cu::DeviceMatrix g1 = cu::to_device(w.norm1), g2 = cu::to_device(w.norm2);
    const cu::DeviceMatrix n1 = cu::rmsnorm_rows(x, g1, s.eps, comm.stream());
    const cu::DeviceMatrix h = add(comm, x, attn.forward(comm, n1));
    const cu::DeviceMatrix n2 = cu::rmsnorm_rows(h, g2, s.eps, comm.stream());
    x = add(comm, h, mlp.forward(comm, n2));
    comm.wait("run_blocks");
  }
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 12, GPU half: one rank of the TP and SP blocks (run under atp-launch)."};
  atp::ch12::BlockSizes s;
  int tp = 0, layers = 2;
  std::uint64_t seed = 2026;
  std::string dump_dir, order = "rank-order";
  app.add_option("--tp", tp, "expected number of ranks p (checked against atp-launch's; default: whatever it is)")
      ->check(CLI::Range(1, 64));
  app.add_option("--tokens", s.T, "tokens T (p must divide them)")->check(CLI::Range(1, 4096));
  app.add_option("--hidden", s.H, "hidden size H")->check(CLI::Range(1, 4096));
  app.add_option("--intermediate", s.I, "intermediate size I")->check(CLI::Range(1, 16384));
  app.add_option("--heads", s.heads, "query heads")->check(CLI::Range(1, 256));
  app.add_option("--kv-heads", s.kv_heads, "key/value heads")->check(CLI::Range(1, 256));
  app.add_option("--layers", layers, "blocks L")->check(CLI::Range(1, 16));
  app.add_option("--order", order, "the reduce order of TP and SP alike")->check(CLI::IsMember({"rank-order", "tree"}));
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_option("--dump", dump_dir, "write this rank's tensors into DIR/rank<r>/ (.npy plus manifest.json)");
  CLI11_PARSE(app, argc, argv);

  int rank = -1;
  try {
    cu::Communicator comm = cu::join_world(tp);
    rank = comm.rank();
    const int p = comm.world_size();
    const auto rows = sim::sequence_rows_per_rank(s.T, p);
    const cu::AllReduceForm form = order == "tree" ? cu::AllReduceForm::Tree : cu::AllReduceForm::RankOrder;
    std::vector<atp::ch12::BlockWeights> w;
    for (int l = 0; l < layers; ++l) w.push_back(atp::ch12::make_block_weights(s, l, seed));
    const Matrix x = atp::random_matrix(s.T, s.H, seed, 0, 1.7f);
    const cu::DeviceMatrix tp_out = run_blocks(comm, w, s, cu::to_device(x), false, form);
    const cu::DeviceMatrix sp_out =
        run_blocks(comm, w, s, cu::to_device(Matrix(x.middleRows(rank * rows, rows))), true, form);
    if (!dump_dir.empty()) {
      sim::Dumper d(cu::rank_dump_dir(dump_dir, rank),
                    nlohmann::json{{"chapter", 12}, {"p", p}, {"tokens", s.T}, {"hidden", s.H}, {"intermediate", s.I},
                                   {"heads", s.heads}, {"kv_heads", s.kv_heads}, {"layers", layers},
                                   {"order", order}, {"seed", seed}, {"side", "gpu"}});
      if (rank == 0) d.add("x", x, "input");
      d.add(sim::Dumper::rank_name("tp_output", rank), cu::to_host(tp_out), "output", rank);
      d.add(sim::Dumper::rank_name("sp_output", rank), cu::to_host(sp_out), "output", rank);
      d.finish();
    }
    if (rank == 0)
      std::printf("Chapter 12 (GPU): p=%d, T=%d, H=%d, L=%d, %s order, seed=%llu: ran on %s%s\n", p, s.T, s.H, layers,
                  order.c_str(), static_cast<unsigned long long>(seed), comm.describe().c_str(),
                  dump_dir.empty() ? "" : ", tensors dumped");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-ch12-sequence-parallelism-gpu (rank %d): %s\n", rank, e.what());
    return 1;
  }
  return 0;
}
