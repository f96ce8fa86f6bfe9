/// \file check.hpp
/// \brief Error checks for every CUDA and NCCL call: ATP_CUDA_CHECK,
///        ATP_CUDA_CHECK_LAUNCH, ATP_NCCL_CHECK, ATP_NCCL_CHECK_COMM.
///
/// A failed call throws atp::cuda::CudaError (a std::runtime_error) whose
/// message carries file:line, the expression as written, and the library's
/// own name and description of the error, so a log line alone says what
/// broke and where. Nothing here prints or exits: callers decide.
///
/// Left out: the nonblocking-NCCL `ncclInProgress` protocol, which is not an
/// error; atp::cuda::Communicator handles it (communicator.hpp).
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#if __has_include(<nccl.h>)
#include <nccl.h>
#define ATP_HAVE_NCCL_H 1
#endif

namespace atp::cuda {

/// A CUDA or NCCL call returned an error (or a peer rank failed).
class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

/// Throws CudaError for a failed CUDA runtime call (used by the macros).
[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  throw CudaError(std::string(file) + ":" + std::to_string(line) + ": CUDA call `" + expr + "` failed: " +
                  cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

#ifdef ATP_HAVE_NCCL_H
/// Throws CudaError for a failed NCCL call; `comm` may be null (used by the macros).
[[noreturn]] inline void throw_nccl_error(ncclResult_t res, ncclComm_t comm, const char* expr, const char* file,
                                          int line) {
  const char* last = ncclGetLastError(comm);
  std::string msg = std::string(file) + ":" + std::to_string(line) + ": NCCL call `" + expr +
                    "` failed: " + ncclGetErrorString(res) + " (code " + std::to_string(static_cast<int>(res)) + ")";
  if (last != nullptr && last[0] != '\0') msg += "; NCCL's last error: " + std::string(last);
  throw CudaError(msg);
}
#endif

}  // namespace detail
}  // namespace atp::cuda

/// Evaluates a CUDA runtime call once; throws atp::cuda::CudaError unless it returned cudaSuccess.
#define ATP_CUDA_CHECK(expr)                                                      \
  do {                                                                            \
    const cudaError_t atp_cuda_err_ = (expr);                                     \
    if (atp_cuda_err_ != cudaSuccess)                                             \
      ::atp::cuda::detail::throw_cuda_error(atp_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

/// Call right after every `kernel<<<...>>>`: a bad launch configuration is
/// reported here, not at some later unrelated call.
#define ATP_CUDA_CHECK_LAUNCH() ATP_CUDA_CHECK(cudaGetLastError())

#ifdef ATP_HAVE_NCCL_H
/// Evaluates an NCCL call once; throws atp::cuda::CudaError unless it returned ncclSuccess.
#define ATP_NCCL_CHECK(expr) ATP_NCCL_CHECK_COMM(nullptr, expr)

/// As ATP_NCCL_CHECK, with the communicator whose last error the message should quote.
#define ATP_NCCL_CHECK_COMM(comm, expr)                                                  \
  do {                                                                                   \
    const ncclResult_t atp_nccl_res_ = (expr);                                           \
    if (atp_nccl_res_ != ncclSuccess)                                                    \
      ::atp::cuda::detail::throw_nccl_error(atp_nccl_res_, (comm), #expr, __FILE__, __LINE__); \
  } while (0)
#endif
