/// \file collective_check.cpp
/// \brief The descriptor exchange of ATP_COLLECTIVE_CHECK (collective_check.hpp).
#include "atp/cuda/collective_check.hpp"

#include <nccl.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace atp::cuda {

namespace {

using atp::sim::CollectiveCall;

// This process's count of checked collectives per communicator. Keyed by the
// Communicator and its NCCL handle, so a new communicator starts at 0.
std::int64_t next_call_index(const Communicator& comm) {
  static std::mutex mutex;
  static std::map<std::pair<const Communicator*, ncclComm_t>, std::int64_t> counts;
  const std::lock_guard<std::mutex> lock(mutex);
  return counts[{&comm, comm.nccl()}]++;
}

}  // namespace

bool collective_check_enabled() {
  const char* v = std::getenv("ATP_COLLECTIVE_CHECK");
  if (v == nullptr || std::string(v).empty() || std::string(v) == "0") return false;
  if (std::string(v) == "1") return true;
  throw std::invalid_argument(std::string("ATP_COLLECTIVE_CHECK='") + v +
                              "' is not valid (valid: 1 to check every collective, 0 or unset for off)");
}

CollectiveCall flat_call(atp::sim::CollectiveOp op, std::size_t n, int root) {
  CollectiveCall c;
  c.op = op;
  c.count = static_cast<std::int64_t>(n);
  c.root = root;
  return c;
}

CollectiveCall matrix_call(atp::sim::CollectiveOp op, const DeviceMatrix& x, int axis, int root) {
  CollectiveCall c = flat_call(op, x.size(), root);
  c.rows = x.rows();
  c.cols = x.cols();
  c.axis = axis;
  return c;
}

void check_same_call(Communicator& comm, CollectiveCall call, const char* who) {
  if (!collective_check_enabled() || comm.world_size() == 1) return;
  comm.require_healthy(who);
  call.index = next_call_index(comm);
  const int p = comm.world_size();
  constexpr std::size_t words = atp::sim::kCollectiveCallWords;
  const std::array<std::int64_t, words> mine = atp::sim::to_wire(call);
  // Scratch from the communicator's workspace (floats, cudaMalloc-aligned):
  // [this rank's words | p ranks' words], as int64.
  float* scratch = comm.workspace(2 * words * static_cast<std::size_t>(p + 1));
  auto* send = reinterpret_cast<std::int64_t*>(scratch);
  std::int64_t* recv = send + words;
  ATP_CUDA_CHECK(cudaMemcpyAsync(send, mine.data(), sizeof mine, cudaMemcpyHostToDevice, comm.stream()));
  comm.check_enqueue(ncclAllGather(send, recv, words, ncclInt64, comm.nccl(), comm.stream()),
                     "ncclAllGather (ATP_COLLECTIVE_CHECK descriptors)");
  std::vector<std::int64_t> all(words * static_cast<std::size_t>(p));
  ATP_CUDA_CHECK(cudaMemcpyAsync(all.data(), recv, all.size() * sizeof(std::int64_t), cudaMemcpyDeviceToHost,
                                 comm.stream()));
  comm.wait("ATP_COLLECTIVE_CHECK descriptor exchange");  // the host reads `all` only after this
  std::vector<CollectiveCall> calls;
  for (int r = 0; r < p; ++r) {
    std::array<std::int64_t, words> w{};
    std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(r) * words), words, w.begin());
    calls.push_back(atp::sim::from_wire(w, r));
  }
  atp::sim::require_matching_calls(calls, std::string(who) + " on " + comm.describe() + " (ATP_COLLECTIVE_CHECK)");
}

}  // namespace atp::cuda
