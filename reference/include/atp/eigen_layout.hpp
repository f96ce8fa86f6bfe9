/// \file eigen_layout.hpp
/// \brief The Eigen memory-layout settings the book's libraries were
/// compiled with, so a program built with other flags can check that it
/// agrees with them before it trades matrices with them.
///
/// Eigen chooses how it aligns and allocates from the compiler's target
/// (-march): with AVX-512 it aligns to 64 bytes and uses its own aligned
/// allocator, with plain SSE2 it uses malloc/free. Two translation units
/// that disagree free each other's matrices with the wrong function. The
/// build pins the settings for every target that links atp_reference (see
/// atp_pin_eigen_alignment in cmake/AtpNumericsFlags.cmake);
/// tests/consumer_abi/ proves it with consumers built for other CPUs.
/// Left out: a run-time check inside the libraries (a consumer that bypasses
/// CMake must pass -DEIGEN_MAX_ALIGN_BYTES=64 -DEIGEN_MAX_STATIC_ALIGN_BYTES=64).
#pragma once

#include <string>

namespace atp {

/// Eigen's alignment settings as one translation unit saw them.
struct EigenLayout {
  int max_align_bytes;         ///< EIGEN_MAX_ALIGN_BYTES
  int max_static_align_bytes;  ///< EIGEN_MAX_STATIC_ALIGN_BYTES (fixed-size objects)
  int default_align_bytes;     ///< EIGEN_DEFAULT_ALIGN_BYTES (heap blocks)
  bool malloc_already_aligned; ///< EIGEN_MALLOC_ALREADY_ALIGNED: plain malloc/free if true

  /// Equal layouts can share Eigen objects.
  friend bool operator==(const EigenLayout&, const EigenLayout&) = default;
};

/// The layout atp_reference (and with it every library of the book) was
/// compiled with.
EigenLayout eigen_layout_of_libraries();

/// "max 64, static 64, heap 64, aligned allocator": for error messages.
std::string describe(const EigenLayout& layout);

}  // namespace atp
