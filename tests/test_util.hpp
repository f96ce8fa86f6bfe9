/// \file test_util.hpp
/// \brief Helpers every test suite shares: bitwise assertions with a readable
/// report, and the text of an expected error.
#pragma once

#include "atp/tensor.hpp"
#include "atp/ulp.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>

namespace atp::test {

/// Asserts bitwise equality of n floats; on failure prints compare_bitwise's
/// report (first differing index, both values, ulp distance, how many differ).
inline void require_bitwise(const float* got, const float* want, std::size_t n, const std::string& name) {
  const BitwiseReport r = compare_bitwise(got, want, n);
  INFO(r.describe(name));
  REQUIRE(r.equal());
}

/// Asserts bitwise equality of two matrices, shapes included, with the report on failure.
inline void require_bitwise(const Matrix& got, const Matrix& want, const std::string& name) {
  const BitwiseReport r = compare_bitwise(got, want);
  INFO(r.describe(name));
  REQUIRE(r.equal());
}

/// The message of the std::invalid_argument that f throws, or "" if it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

/// True if `part` occurs in `s`.
inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace atp::test
