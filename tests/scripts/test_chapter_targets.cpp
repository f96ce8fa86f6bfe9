/// \file test_chapter_targets.cpp
/// \brief The chapter registry (simulator/src/chapter_registry.cpp) and the
///        CMake targets agree: every registered chapter has its CPU binary
///        (atp_add_chapter) and, in a build with the GPU half, its GPU worker;
///        every GPU worker is registered. atp-compare, gpu-verify-targets and
///        scripts/gpu-verify.sh are built from these two lists, so a chapter
///        missing from either would silently never be compared on a GPU.
///
/// ATP_CHAPTER_TARGETS ("atp-ch00-numbers-that-match:gpu,...") and
/// ATP_BUILDS_GPU_WORKERS come from tests/scripts/CMakeLists.txt.
#include "atp/sim/chapter_registry.hpp"

#include <doctest/doctest.h>

#include <map>
#include <sstream>
#include <string>

namespace {

/// CMake's chapter targets: binary name -> has a GPU worker.
std::map<std::string, bool> cmake_chapters() {
  std::map<std::string, bool> out;
  std::istringstream in(ATP_CHAPTER_TARGETS);
  for (std::string entry; std::getline(in, entry, ',');) {
    const auto colon = entry.rfind(':');
    REQUIRE(colon != std::string::npos);
    out[entry.substr(0, colon)] = entry.substr(colon + 1) == "gpu";
  }
  return out;
}

}  // namespace

TEST_CASE("every registered chapter has its CPU binary, and its GPU worker wherever the GPU half is built") {
  const auto targets = cmake_chapters();
  REQUIRE_FALSE(atp::sim::chapter_specs().empty());
  for (const auto& spec : atp::sim::chapter_specs()) {
    const std::string binary = atp::sim::chapter_binary_name(spec);
    CAPTURE(binary);
    const auto it = targets.find(binary);
    CHECK_MESSAGE(it != targets.end(), "no atp_add_chapter target named " << binary);
    if (it != targets.end() && ATP_BUILDS_GPU_WORKERS)
      CHECK_MESSAGE(it->second, "no GPU worker target " << binary << "-gpu");
  }
}

TEST_CASE("every chapter with a GPU worker is in the registry") {
  for (const auto& [binary, has_gpu] : cmake_chapters()) {
    if (!has_gpu) continue;
    bool registered = false;
    for (const auto& spec : atp::sim::chapter_specs()) registered |= atp::sim::chapter_binary_name(spec) == binary;
    CAPTURE(binary);
    CHECK_MESSAGE(registered, binary << "-gpu exists but the chapter is not in chapter_registry.cpp");
  }
}
