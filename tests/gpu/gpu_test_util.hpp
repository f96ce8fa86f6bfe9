/// \file gpu_test_util.hpp
/// \brief What every GPU test shares: the "no GPU, skip" check and small
///        helpers for bitwise comparisons of device results.
///
/// A GPU test case starts with `if (atp::test::skip_without_gpu()) return;`.
/// Without a device it prints exactly one line,
/// "ATP-SKIP: no CUDA device found (<CUDA's error string>)", which ctest's
/// SKIP_REGULAR_EXPRESSION turns into "skipped" (cmake/AtpTesting.cmake).
#pragma once

#include "../test_util.hpp"

#include "atp/ulp.hpp"

#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

namespace atp::test {

/// True (after printing the ATP-SKIP line) when no CUDA device can be used.
inline bool skip_without_gpu() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaSuccess && count > 0) return false;
  std::cout << "ATP-SKIP: no CUDA device found ("
            << (err != cudaSuccess ? cudaGetErrorString(err) : "cudaGetDeviceCount reported 0 devices") << ")"
            << std::endl;
  return true;
}

}  // namespace atp::test
