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

/// Runs body(0) .. body(n - 1) on up to n threads: the calling thread and
/// n - 1 std::threads each take the next unclaimed index until none is
/// left, so a thread that starts late does less, not the others wait more.
/// Returns when all have finished; if any threw, rethrows the exception of
/// the lowest index. If the system refuses a thread, the others do its
/// share. n <= 0 does nothing.
void parallel_for(int n, const std::function<void(int)>& body);

}  // namespace atp
