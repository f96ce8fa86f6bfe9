/// \file eigen_layout.cpp
/// \brief The Eigen layout of the libraries: the macros as this file sees them.
#include "atp/eigen_layout.hpp"

#include <Eigen/Core>

namespace atp {

EigenLayout eigen_layout_of_libraries() {
  return {EIGEN_MAX_ALIGN_BYTES, EIGEN_MAX_STATIC_ALIGN_BYTES, EIGEN_DEFAULT_ALIGN_BYTES,
          EIGEN_MALLOC_ALREADY_ALIGNED != 0};
}

std::string describe(const EigenLayout& l) {
  return "max " + std::to_string(l.max_align_bytes) + ", static " +
         std::to_string(l.max_static_align_bytes) + ", heap " +
         std::to_string(l.default_align_bytes) + ", " +
         (l.malloc_already_aligned ? "malloc/free" : "aligned allocator");
}

}  // namespace atp
