/// \file test_golden.cpp
/// \brief The simulator against real GPUs, on a machine without one: every
///        configuration in tests/golden/chNN.json (written only by a GPU run,
///        see golden.hpp) is recomputed by the chapter's CPU binary and its
///        tensors' digests must equal the GPU's. Also proves the checker can
///        fail (a flipped bit, a missing tensor, a missing configuration).
///
/// The chapter binaries are found through ATP_CHAPTERS_DIR and the chapter registry
/// (environment first, else the paths CMake compiled in), the golden files in
/// $ATP_GOLDEN_DIR if set, else tests/golden/. Until a GPU run has
/// written a golden file, the recomputation case prints
/// "ATP-SKIP: no golden digests yet in tests/golden/ (written only by a GPU run)".
#include "atp/sim/dump.hpp"
#include "atp/sim/chapter_registry.hpp"
#include "atp/sim/golden.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
namespace sim = atp::sim;
using nlohmann::json;

namespace {

/// A fresh directory under the system temp dir, removed on scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("atp-golden-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

/// The CPU binary of `chapter`: under $ATP_CHAPTERS_DIR if set, else under the build's chapters/.
std::string chapter_exe(int chapter) {
  const sim::ChapterSpec& spec = sim::chapter_spec(chapter);
  const char* env = std::getenv("ATP_CHAPTERS_DIR");
  const fs::path dir = env != nullptr && env[0] != '\0' ? fs::path(env) : fs::path(ATP_CHAPTERS_DIR);
  return (dir / spec.folder / sim::chapter_binary_name(spec)).string();
}

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs the CPU binary of config's chapter on `config` with --dump `dir`.
void run_cpu_chapter(const json& config, const fs::path& dir) {
  const int chapter = config.at("chapter").get<int>();
  std::string cmd = quoted(chapter_exe(chapter));
  for (const auto& a : sim::chapter_args(config)) cmd.append(" ").append(quoted(a));
  for (const auto& a : sim::chapter_spec(chapter).cpu_extra_args) cmd.append(" ").append(quoted(a));
  cmd.append(" --dump ").append(quoted(dir.string())).append(" > /dev/null");
  const int rc = std::system(cmd.c_str());
  INFO("command: " << cmd);
  REQUIRE(rc == 0);
}

/// The golden files present in the source tree ($ATP_GOLDEN_DIR overrides the directory).
std::vector<fs::path> golden_files() {
  std::vector<fs::path> out;
  const char* env = std::getenv("ATP_GOLDEN_DIR");
  const fs::path dir = env != nullptr && env[0] != '\0' ? fs::path(env) : fs::path(ATP_GOLDEN_DIR);
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

int chapter_of_file(const fs::path& file) {
  const std::string stem = file.stem().string();  // "ch01"
  REQUIRE_MESSAGE((stem.size() == 4 && stem.rfind("ch", 0) == 0), "golden file name must be chNN.json: " << file);
  return std::stoi(stem.substr(2));
}

}  // namespace

TEST_CASE("golden: the simulator reproduces every digest a GPU run recorded in tests/golden/") {
  const auto files = golden_files();
  if (files.empty()) {
    std::cout << "ATP-SKIP: no golden digests yet in tests/golden/ (written only by a GPU run)" << std::endl;
    return;
  }
  for (const auto& file : files) {
    const sim::GoldenFile golden = sim::read_golden(file);
    for (const auto& entry : golden.entries) {
      TempDir dump("recompute");
      run_cpu_chapter(entry.config, dump.path);
      const sim::GoldenCheck check = sim::check_against_golden(entry, sim::digest_dump(dump.path));
      INFO(file.filename().string() << " (written on " << golden.written_by.dump() << ")");
      INFO(check.report(entry.config));
      CHECK(check.ok());
      CHECK(check.checked > 0);
    }
  }
}

TEST_CASE("golden: once a chapter has a golden file, every canonical configuration has an entry") {
  const auto files = golden_files();
  if (files.empty()) {
    std::cout << "ATP-SKIP: no golden digests yet in tests/golden/ (written only by a GPU run)" << std::endl;
    return;
  }
  for (const auto& file : files) {
    const int chapter = chapter_of_file(file);
    const sim::GoldenFile golden = sim::read_golden(file);
    for (const auto& entry : golden.entries) {
      INFO(file.filename().string() << " holds an entry of another chapter: " << sim::describe_config(entry.config));
      CHECK(entry.config.at("chapter").get<int>() == chapter);
    }
    for (const auto& missing : sim::missing_canonical_configs(golden, chapter))
      FAIL_CHECK(file.filename().string() << " has no entry for the canonical configuration "
                                          << sim::describe_config(missing) << "; rerun the GPU verification");
  }
}

TEST_CASE("golden: every registered chapter runs its canonical configurations and records them in its dump") {
  // The registry (chapter_registry.cpp) must agree with the binaries: each
  // option is a flag the CPU binary takes, and the dump's config names it.
  for (const auto& spec : sim::chapter_specs())
    for (const auto& config : sim::canonical_configs(spec.number)) {
      TempDir work("registry");
      INFO("config: " << sim::describe_config(config));
      run_cpu_chapter(config, work.path / "dump");
      CHECK(sim::golden_config(sim::load_manifest(work.path / "dump").config) == config);
      for (const auto& name : spec.cpu_only) {
        bool dumped = false;
        for (const auto& e : sim::load_manifest(work.path / "dump").tensors) dumped = dumped || e.name == name;
        CHECK_MESSAGE(dumped, "cpu_only names a tensor the chapter does not dump: " << name);
      }
    }
}

TEST_CASE("golden: a flipped bit in one tensor is reported, naming that tensor and both digests") {
  TempDir work("flip");
  const json config = sim::canonical_configs(1)[2];  // p = 4: the ring and rank order differ
  run_cpu_chapter(config, work.path / "dump");

  // The golden entry of a real simulator run, through a real file round trip.
  sim::GoldenFile golden;
  golden.written_by = {{"gpu", "none (test)"}};
  golden.upsert({sim::load_manifest(work.path / "dump").config, sim::digest_dump(work.path / "dump")});
  sim::write_golden(sim::golden_path(work.path, 1), golden);
  const sim::GoldenFile back = sim::read_golden(work.path / "ch01.json");
  const sim::GoldenEntry* entry = back.find(config);
  REQUIRE(entry != nullptr);
  REQUIRE(entry->tensors.count("all_reduce_ring.rank2") == 1);

  // The unchanged tensors pass...
  std::map<std::string, atp::Matrix> tensors;
  for (const auto& e : sim::load_manifest(work.path / "dump").tensors)
    tensors[e.name] = sim::load_tensor(work.path / "dump", e.name);
  const sim::GoldenCheck clean = sim::check_against_golden(*entry, sim::digest_matrices(tensors));
  INFO(clean.report(config));
  CHECK(clean.ok());
  CHECK(clean.checked == tensors.size());

  // ...and the lowest mantissa bit of one element of one tensor is caught.
  atp::Matrix& victim = tensors.at("all_reduce_ring.rank2");
  std::uint32_t bits = 0;
  std::memcpy(&bits, &victim(1, 3), sizeof bits);
  bits ^= 1u;
  std::memcpy(&victim(1, 3), &bits, sizeof bits);
  const sim::GoldenCheck flipped = sim::check_against_golden(*entry, sim::digest_matrices(tensors));
  REQUIRE(flipped.problems.size() == 1);
  CHECK(flipped.problems[0].find("'all_reduce_ring.rank2'") != std::string::npos);
  CHECK(flipped.problems[0].find(entry->tensors.at("all_reduce_ring.rank2").fnv1a64) != std::string::npos);
  CHECK(flipped.report(config).find("chapter=1") != std::string::npos);
}

TEST_CASE("golden: a tensor the golden entry has but the simulator did not produce is reported") {
  TempDir work("missing");
  const json config = sim::canonical_configs(1)[1];  // p = 2
  run_cpu_chapter(config, work.path / "dump");
  sim::GoldenEntry entry{sim::golden_config(sim::load_manifest(work.path / "dump").config),
                         sim::digest_dump(work.path / "dump")};
  sim::DigestSet got = entry.tensors;
  got.erase("gather");
  const sim::GoldenCheck check = sim::check_against_golden(entry, got);
  REQUIRE(check.problems.size() == 1);
  CHECK(check.problems[0].find("'gather'") != std::string::npos);
  CHECK(check.problems[0].find("no tensor of that name") != std::string::npos);

  // A shape change is its own readable problem, not a digest line.
  got = entry.tensors;
  got["x.rank1"].shape = {8, 2};
  const sim::GoldenCheck reshaped = sim::check_against_golden(entry, got);
  REQUIRE(reshaped.problems.size() == 1);
  CHECK(reshaped.problems[0].find("shape (2, 8) on the GPU, (8, 2)") != std::string::npos);
}

TEST_CASE("golden: a golden file missing a canonical configuration is caught, naming the configuration") {
  sim::GoldenFile golden;
  for (const auto& c : sim::canonical_configs(1))
    if (c.at("p") != 2) golden.upsert({c, {{"x.rank0", {{2, 8}, "0123456789abcdef"}}}});
  const auto missing = sim::missing_canonical_configs(golden, 1);
  REQUIRE(missing.size() == 1);
  CHECK(sim::describe_config(missing[0]) == "chapter=1 cols=8 p=2 rows=2 seed=2026");
  // The dump's text (a strategy description) is no part of a config's identity.
  CHECK(golden.find(json{{"chapter", 1}, {"p", 4}, {"rows", 2}, {"cols", 8}, {"seed", 2026}, {"strategy", "..."}}) !=
        nullptr);
  CHECK(sim::chapter_args(missing[0]) ==
        std::vector<std::string>{"--cols", "8", "--tp", "2", "--rows", "2", "--seed", "2026"});
}

TEST_CASE("golden: malformed golden files are refused with the file and the problem named") {
  TempDir work("bad");
  const fs::path f = work.path / "ch01.json";
  auto write = [&](const std::string& text) {
    std::FILE* fp = std::fopen(f.c_str(), "w");
    REQUIRE(fp != nullptr);
    std::fputs(text.c_str(), fp);
    std::fclose(fp);
  };
  write(R"({"format": "atp-dump", "version": 1, "configs": []})");
  CHECK_THROWS_WITH_AS(sim::read_golden(f), doctest::Contains("atp-golden"), std::invalid_argument);
  write(R"({"format": "atp-golden", "version": 2, "configs": []})");
  CHECK_THROWS_WITH_AS(sim::read_golden(f), doctest::Contains("\"version\" must be 1"), std::invalid_argument);
  write(R"({"format": "atp-golden", "version": 1, "configs": [{"config": {"chapter": 1},
           "tensors": {"x": {"shape": [1, 1], "fnv1a64": "XYZ"}}}]})");
  CHECK_THROWS_WITH_AS(sim::read_golden(f), doctest::Contains("tensor 'x' has fnv1a64 \"XYZ\""),
                       std::invalid_argument);
  write(R"({"format": "atp-golden", "version": 1, "configs": [{"config": {"chapter": 1, "p": 2}, "tensors": {}},
           {"config": {"chapter": 1, "p": 2}, "tensors": {}}]})");
  CHECK_THROWS_WITH_AS(sim::read_golden(f), doctest::Contains("two entries for chapter=1 p=2"),
                       std::invalid_argument);
  write("{not json");
  CHECK_THROWS_WITH_AS(sim::read_golden(f), doctest::Contains("not valid JSON"), std::invalid_argument);
  CHECK_THROWS_AS(sim::golden_path(work.path, 100), std::invalid_argument);
  CHECK(sim::golden_path(work.path, 1).filename() == "ch01.json");
}
