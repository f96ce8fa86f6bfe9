/// \file test_consumer_abi.cpp
/// \brief A program built with compiler flags of its own (another -march)
/// links the book's static libraries and trades matrices with them safely.
///
/// Built three times by tests/consumer_abi/CMakeLists.txt: for baseline
/// x86-64 (SSE2), for x86-64-v3 (AVX2) and for this machine (-march=native,
/// AVX-512 here), while the libraries are built as the project is. Before
/// Eigen's layout was pinned (cmake/AtpNumericsFlags.cmake), the baseline
/// build aborted with "double free or corruption" on the first matrix
/// load_tensor returned, because the libraries allocated it with Eigen's
/// aligned allocator and this file freed it with free().
/// Left out: consumers that bypass CMake (they must pass the same two
/// defines; see atp/eigen_layout.hpp).
#include "atp/eigen_layout.hpp"
#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"
#include "atp/sim/dump.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
using atp::Matrix;

#ifndef ATP_CONSUMER_FLAGS
#error "tests/consumer_abi/CMakeLists.txt names the flags of each build"
#endif

namespace {

// The layout as THIS translation unit sees it (a macro expansion here, not
// an inline function, which the linker could take from another file).
const atp::EigenLayout kHere{EIGEN_MAX_ALIGN_BYTES, EIGEN_MAX_STATIC_ALIGN_BYTES,
                             EIGEN_DEFAULT_ALIGN_BYTES, EIGEN_MALLOC_ALREADY_ALIGNED != 0};

bool same_bits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}

}  // namespace

TEST_CASE("a consumer built with other flags has the libraries' Eigen layout") {
  INFO("this consumer's own flags: " ATP_CONSUMER_FLAGS);
  const atp::EigenLayout libs = atp::eigen_layout_of_libraries();
  INFO("this consumer: " << atp::describe(kHere) << "; the libraries: " << atp::describe(libs));
  CHECK(kHere == libs);
  // The pinned values, so a consumer and libraries that both lost the pin
  // (and agree only by luck of the flags) fail here too.
  CHECK(kHere.max_align_bytes == 64);
  CHECK(kHere.max_static_align_bytes == 64);
}

TEST_CASE("matrices made by the libraries are freed here, and ours there") {
  INFO("this consumer's own flags: " ATP_CONSUMER_FLAGS);
  const fs::path dir = fs::temp_directory_path() /
                       ("atp_test_consumer_abi_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const Matrix x = atp::random_matrix(5, 7, 3, 0);  // allocated by the libraries
  const Matrix w = atp::random_matrix(4, 7, 3, 1);
  {
    atp::sim::Dumper d(dir, {{"test", "consumer_abi"}});
    d.add("x", x, "input");
    d.finish();
  }
  for (int i = 0; i < 3; ++i) {
    Matrix back = atp::sim::load_tensor(dir, "x");  // allocated there, freed here
    CHECK(same_bits(back, x));
    back.resize(11, 13);  // reallocated here
    back.setZero();
  }
  std::vector<Matrix> ys;
  for (int i = 0; i < 4; ++i) ys.push_back(atp::matmul_nt(x, w));  // freed by the vector, here
  CHECK(same_bits(ys.front(), ys.back()));
  Matrix ours(5, 7);  // allocated here, read and copied by the libraries
  ours = x;
  CHECK(same_bits(atp::matmul_nt(ours, w), ys.front()));
  fs::remove_all(dir);
}
