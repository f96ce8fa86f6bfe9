/// \file collective_worker.cpp
/// \brief One rank of the GPU collective tests: run every collective on
///        deterministic inputs and write the results to files.
///
/// Started by atp-launch from tests/gpu/test_gpu_collectives.cpp, which
/// recomputes every expected result on the host and compares bits. Inputs:
/// rank r's vector is atp::random_matrix(1, n, seed, r, 3.7f) and its matrix
/// atp::random_matrix(rows, cols, seed + 1, r, 3.7f). The scale is not a
/// power of two so the values carry full 24-bit significands at varied
/// exponents: unscaled values (multiples of 2^-23 in [-1, 1)) add exactly
/// for p <= 3 and would hide a wrong order. Output files are raw
/// little-endian fp32, named "<what>.r<rank>.bin" in --out.
///
/// Failure drills (for the "never hang" tests): --die-rank R makes rank R
/// exit with code 3 right after joining the communicator, as a crash would;
/// --stall-rank R makes rank R sleep --stall-s seconds before its first
/// collective. Mismatch drill (for ATP_COLLECTIVE_CHECK): --mismatch op|count|root
/// makes the last rank's first collective differ from the others' (all_gather
/// instead of all_reduce_rank_order, one element fewer, or another broadcast
/// root). Exit codes: 0 ok, 2 bad options, 3 the deliberate death, 4 an
/// exception, 5 a mismatch drill that ran to the end (the check missed it).
#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/device_buffer.hpp"
#include "atp/rng.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

namespace cu = atp::cuda;

constexpr float kScale = 3.7f;  // see the file comment; the test uses the same

void write_raw(const std::string& dir, const std::string& what, int rank, const atp::Matrix& m) {
  const std::string path = dir + "/" + what + ".r" + std::to_string(rank) + ".bin";
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(m.data()), static_cast<std::streamsize>(m.size() * sizeof(float)));
  if (!f) throw std::runtime_error("collective_worker: cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  // A handful of "--name value" options, parsed by hand: CLI11 would double
  // this file's compile time for no gain (the test is its only user).
  std::string out;
  int n = 1003;          // elements per rank of the vector collectives
  int small_n = 3;       // a second, tiny all-reduce (empty ring chunks when < p)
  int rows = 8;          // matrix collectives: rows and cols, divisible by p
  int cols = 12;
  std::uint64_t seed = 2024;
  int die_rank = -1;     // this rank exits with code 3 after joining
  int stall_rank = -1;   // this rank sleeps before its first collective
  double stall_s = 30.0;
  std::string mismatch;  // "", "op", "count" or "root"
  try {
    for (int i = 1; i < argc; i += 2) {
      const std::string name = argv[i];
      if (i + 1 >= argc) throw std::invalid_argument("option " + name + " needs a value");
      const std::string value = argv[i + 1];
      if (name == "--out") out = value;
      else if (name == "--n") n = std::stoi(value);
      else if (name == "--small-n") small_n = std::stoi(value);
      else if (name == "--rows") rows = std::stoi(value);
      else if (name == "--cols") cols = std::stoi(value);
      else if (name == "--seed") seed = std::stoull(value);
      else if (name == "--die-rank") die_rank = std::stoi(value);
      else if (name == "--stall-rank") stall_rank = std::stoi(value);
      else if (name == "--stall-s") stall_s = std::stod(value);
      else if (name == "--mismatch" && (value == "op" || value == "count" || value == "root")) mismatch = value;
      else throw std::invalid_argument("unknown option " + name);
    }
    if (out.empty()) throw std::invalid_argument("--out DIR is required");
  } catch (const std::exception& e) {
    std::cerr << "collective_worker: " << e.what()
              << " (options: --out DIR [--n N] [--small-n N] [--rows R] [--cols C] [--seed S]"
                 " [--die-rank R] [--stall-rank R] [--stall-s SECONDS] [--mismatch op|count|root])\n";
    return 2;
  }

  int rank = -1;
  try {
    cu::Communicator comm = cu::Communicator::from_env();
    rank = comm.rank();
    const int p = comm.world_size();
    if (rank == die_rank) {
      std::cerr << "collective_worker: rank " << rank << " dies on purpose\n";
      std::_Exit(3);  // no finalize, no destructors: what a crash leaves behind
    }
    if (rank == stall_rank) std::this_thread::sleep_for(std::chrono::duration<double>(stall_s));

    if (!mismatch.empty()) {
      // The last rank's first call differs; with ATP_COLLECTIVE_CHECK=1 every rank must throw, naming both calls.
      const bool odd = rank == p - 1;
      cu::DeviceMatrix d = cu::to_device(atp::random_matrix(1, n, seed, static_cast<std::uint64_t>(rank), kScale));
      if (mismatch == "op" && odd) {
        cu::DeviceMatrix all(p, n);
        cu::all_gather(comm, d.data(), static_cast<std::size_t>(n), all.data());
      } else if (mismatch == "root") {
        cu::broadcast(comm, d.data(), static_cast<std::size_t>(n), odd ? p - 1 : 0);
      } else {
        cu::all_reduce_rank_order(comm, d.data(), static_cast<std::size_t>(mismatch == "count" && odd ? n - 1 : n));
      }
      std::cerr << "collective_worker (rank " << rank << "): the mismatch drill ran to the end\n";
      return 5;
    }

    const atp::Matrix x = atp::random_matrix(1, n, seed, static_cast<std::uint64_t>(rank), kScale);
    const atp::Matrix xs = atp::random_matrix(1, small_n, seed + 7, static_cast<std::uint64_t>(rank), kScale);
    const atp::Matrix X = atp::random_matrix(rows, cols, seed + 1, static_cast<std::uint64_t>(rank), kScale);

    for (cu::AllReduceForm form : {cu::AllReduceForm::RankOrder, cu::AllReduceForm::Ring, cu::AllReduceForm::Native}) {
      cu::DeviceMatrix d = cu::to_device(x);
      cu::all_reduce(comm, d, form);
      write_raw(out, std::string("all_reduce_") + cu::to_string(form), rank, cu::to_host(d));
      cu::DeviceMatrix ds = cu::to_device(xs);
      cu::all_reduce(comm, ds, form);
      write_raw(out, std::string("all_reduce_small_") + cu::to_string(form), rank, cu::to_host(ds));
    }
    const cu::DeviceMatrix dX = cu::to_device(X);
    write_raw(out, "all_gather_rows", rank, cu::to_host(cu::all_gather(comm, dX, cu::Axis::Rows)));
    write_raw(out, "all_gather_cols", rank, cu::to_host(cu::all_gather(comm, dX, cu::Axis::Cols)));
    write_raw(out, "reduce_scatter_rows", rank, cu::to_host(cu::reduce_scatter(comm, dX, cu::Axis::Rows)));
    write_raw(out, "reduce_scatter_cols", rank, cu::to_host(cu::reduce_scatter(comm, dX, cu::Axis::Cols)));
    {
      cu::DeviceMatrix b = cu::to_device(X);
      cu::broadcast(comm, b, p - 1);
      write_raw(out, "broadcast", rank, cu::to_host(b));
    }
    const cu::DeviceMatrix g_rows = cu::gather(comm, dX, 0, cu::Axis::Rows);
    const cu::DeviceMatrix g_cols = cu::gather(comm, dX, 0, cu::Axis::Cols);
    if (rank == 0) {
      write_raw(out, "gather_rows", rank, cu::to_host(g_rows));
      write_raw(out, "gather_cols", rank, cu::to_host(g_cols));
    } else if (g_rows.size() != 0 || g_cols.size() != 0) {
      throw std::runtime_error("gather returned data on a non-root rank");
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "collective_worker (rank " << rank << "): " << e.what() << "\n";
    return 4;
  }
}
