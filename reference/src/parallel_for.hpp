/// \file parallel_for.hpp
/// \brief Private to reference/: run n tasks on n threads and wait for all,
/// the smallest thing that splits the CPU matmul's tiles across cores.
///
/// Fresh std::threads per call, no pool: a product worth splitting takes
/// far longer than starting a thread (matmul_cpu.cpp only splits those).
/// Left out: work stealing, nested parallelism, thread affinity.
#pragma once

#include <functional>

namespace atp {

/// Runs body(0) .. body(n - 1) concurrently: body(0) on the calling thread,
/// each other on a std::thread of its own, and returns when all have
/// finished. If any threw, rethrows the exception of the lowest index. If
/// the system refuses a thread, that task runs on the calling thread instead
/// (later, but with the same result). n <= 0 does nothing.
void parallel_for(int n, const std::function<void(int)>& body);

}  // namespace atp
