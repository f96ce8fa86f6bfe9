/// \file collective_helpers.hpp
/// \brief Internal to the GPU collectives: the NCCL group guard and the
///        argument checks that collectives.cpp and tree_collectives.cpp share.
///        Not part of the public headers.
#pragma once

#include "atp/cuda/check.hpp"
#include "atp/cuda/communicator.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace atp::cuda::detail {

/// ncclGroupStart/End around the calls of one step. If the communicator has
/// been aborted inside the group, the group is left open: ending it would
/// touch the freed communicator, and a failed communicator ends the program.
class NcclGroup {
 public:
  /// ncclGroupStart on `comm`.
  explicit NcclGroup(Communicator& comm) : comm_(comm) {
    comm_.check_enqueue(ncclGroupStart(), "ncclGroupStart");
    open_ = true;
  }
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;
  /// ncclGroupEnd, its result checked under the name `what`.
  void end(const char* what) {
    open_ = false;
    comm_.check_enqueue(ncclGroupEnd(), what);
  }
  ~NcclGroup() {
    if (open_ && !comm_.failed()) (void)ncclGroupEnd();
  }

 private:
  Communicator& comm_;
  bool open_ = false;
};

/// Throws std::invalid_argument naming `who` unless 0 <= root < p.
inline void check_root(const Communicator& comm, int root, const char* who) {
  if (root < 0 || root >= comm.world_size())
    throw std::invalid_argument(std::string(who) + ": root = " + std::to_string(root) + " is outside [0, " +
                                std::to_string(comm.world_size()) + ")");
}

/// Throws std::invalid_argument naming `who` and `name` if ptr is null but n > 0.
inline void check_buffer(const void* ptr, std::size_t n, const char* who, const char* name) {
  if (n > 0 && ptr == nullptr)
    throw std::invalid_argument(std::string(who) + ": " + name + " is null but n = " + std::to_string(n));
}

/// a * b, or std::invalid_argument naming `who` if it overflows size_t.
inline std::size_t times(std::size_t a, std::size_t b, const char* who) {
  if (a != 0 && b > static_cast<std::size_t>(-1) / a)
    throw std::invalid_argument(std::string(who) + ": " + std::to_string(a) + " x " + std::to_string(b) +
                                " elements overflow size_t");
  return a * b;
}

/// n floats from src to dst on comm's stream (device to device), not waited for.
inline void copy_on_stream(Communicator& comm, float* dst, const float* src, std::size_t n) {
  if (n > 0)
    ATP_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, comm.stream()));
}

}  // namespace atp::cuda::detail
