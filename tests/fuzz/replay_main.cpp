/// \file replay_main.cpp
/// \brief Runs a fuzz target's LLVMFuzzerTestOneInput over every file in the
///        folders given on the command line (its seed corpus and its committed
///        regressions), so that every input ever committed is a test in the
///        ordinary gcc builds, the ASan + UBSan one included.
///
/// Usage: fuzz_replay_<name> DIR... (a missing DIR is skipped). Exits 1 if no
/// input was found at all (a replay of nothing proves nothing); a crash or an
/// uncaught exception in the target fails the test as it would fail libFuzzer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    if (!fs::is_directory(argv[i])) continue;
    for (const auto& e : fs::directory_iterator(argv[i]))
      if (e.is_regular_file() && e.path().filename().string().front() != '.') files.push_back(e.path());
  }
  if (files.empty()) {
    std::fprintf(stderr, "replay: no inputs found in the folders given\n");
    return 1;
  }
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("replay: %zu inputs ran without a finding\n", files.size());
  return 0;
}
