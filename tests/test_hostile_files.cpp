/// \file test_hostile_files.cpp
/// \brief What a hostile input probe found in the dump, .npy and golden code,
///        each case refused or fixed: a forged duplicate entry, symbolic
///        links at output paths, unfinished runs, huge and endless files,
///        deep nesting, loose numbers, and a golden file that cannot be written.
///
/// The same hostile files are fed to notebooks/atp_dump.py by
/// test_reader_agreement.cpp; the binaries' command lines are in test_bad_inputs.cpp.
#include "atp/sim/dump.hpp"
#include "atp/sim/golden.hpp"
#include "atp/sim/npy.hpp"

#include "test_util.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace fs = std::filesystem;
namespace sim = atp::sim;
using atp::Matrix;
using atp::test::contains;
using nlohmann::json;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() / ("atp_hostile_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The message of any std::exception f throws ("" if none).
template <class F>
std::string error_text(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

Matrix ramp(int rows, int cols) {
  Matrix m(rows, cols);
  for (int i = 0; i < m.size(); ++i) m.data()[i] = 0.5f * static_cast<float>(i);
  return m;
}

// A finished dump with one tensor "x".
void small_dump(const fs::path& dir) {
  sim::Dumper d(dir, {{"chapter", 1}, {"p", 1}, {"rows", 2}, {"cols", 3}, {"seed", 1}});
  d.add("x", ramp(2, 3), "input");
  d.finish();
}

// Replaces the manifest's text.
void edit_manifest(const fs::path& dir, const std::string& from, const std::string& to) {
  std::string text = slurp(dir / "manifest.json");
  const auto at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "'" << from << "' not in the manifest");
  text.replace(at, from.size(), to);
  spit(dir / "manifest.json", text);
}

}  // namespace

TEST_CASE("hostile: a manifest listing a tensor twice is refused, so the golden check cannot be fooled") {
  TempDir dir;
  small_dump(dir.path);
  const auto entry = sim::load_manifest(dir.path).find("x");
  // The second entry carries a forged digest; the old reader checked the first and reported the second.
  json j = json::parse(slurp(dir.path / "manifest.json"));
  json forged = j["tensors"][0];
  forged["fnv1a64"] = "0123456789abcdef";
  j["tensors"].push_back(forged);
  spit(dir.path / "manifest.json", j.dump(2));
  CHECK(contains(error_text([&] { (void)sim::load_manifest(dir.path); }), "lists the tensor 'x' twice"));
  CHECK(contains(error_text([&] { (void)sim::digest_dump(dir.path); }), "lists the tensor 'x' twice"));
  // With one entry, digest_dump reports the digest of the bytes it read.
  small_dump(dir.path);
  CHECK(sim::digest_dump(dir.path).at("x") == sim::digest_matrix(ramp(2, 3)));
  CHECK(sim::digest_dump(dir.path).at("x").fnv1a64 == entry.fnv1a64);
}

TEST_CASE("hostile: dump writing refuses symbolic links and never writes through them") {
  TempDir dir;
  const fs::path victim = dir.path / "victim.txt";
  spit(victim, "precious");
  const fs::path dump = dir.path / "dump";
  fs::create_directories(dump);
  fs::create_symlink(victim, dump / "x.rank0.npy");
  {
    sim::Dumper d(dump, {{"chapter", 1}});
    const std::string e = error_text([&] { d.add("x.rank0", ramp(1, 2), "input", 0); });
    CHECK(contains(e, "x.rank0.npy"));
    CHECK(contains(e, "symbolic link"));
  }
  CHECK(slurp(victim) == "precious");
  // A link planted where the manifest goes: the Dumper refuses to start.
  fs::remove(dump / "manifest.json");
  fs::create_symlink(victim, dump / "manifest.json");
  CHECK(contains(error_text([&] { sim::Dumper d(dump, {{"chapter", 1}}); }), "symbolic link"));
  CHECK(slurp(victim) == "precious");
  // Links planted at the temporary names a writer might pick are skipped, not followed (O_EXCL | O_NOFOLLOW).
  fs::remove(dump / "manifest.json");
  for (int k = 0; k < 20; ++k)
    fs::create_symlink(victim, dump / ("y.npy.tmp." + std::to_string(::getpid()) + "." + std::to_string(k)));
  {
    sim::Dumper d(dump, {{"chapter", 1}});
    d.add("y", ramp(1, 2), "input");
    d.finish();
  }
  CHECK(slurp(victim) == "precious");
  CHECK(sim::load_tensor(dump, "y") == ramp(1, 2));
  // write_npy and write_golden refuse a link too.
  fs::create_symlink(victim, dir.path / "link.npy");
  CHECK(contains(error_text([&] { sim::write_npy(dir.path / "link.npy", ramp(1, 1)); }), "symbolic link"));
  CHECK(contains(error_text([&] { sim::write_golden(dir.path / "link.npy", sim::GoldenFile{}); }), "symbolic link"));
  CHECK(slurp(victim) == "precious");
}

TEST_CASE("hostile: a run that fails part-way leaves a dump both loaders refuse") {
  TempDir dir;
  small_dump(dir.path);  // an earlier, complete run in the same folder
  try {
    sim::Dumper d(dir.path, {{"chapter", 1}});
    d.add("x", ramp(2, 3), "input");
    throw std::runtime_error("the run fails here");
  } catch (const std::runtime_error&) {
  }
  const std::string e = error_text([&] { (void)sim::load_manifest(dir.path); });
  CHECK(contains(e, "incomplete"));
  CHECK(contains(e, (dir.path / "manifest.json").string()));
  CHECK(contains(error_text([&] { (void)sim::digest_dump(dir.path); }), "incomplete"));
  // The incomplete manifest still lists what was written, for whoever investigates.
  CHECK(json::parse(slurp(dir.path / "manifest.json"))["tensors"].size() == 1);
  // Version 1 (no "complete" flag) is refused with the reason.
  small_dump(dir.path);
  edit_manifest(dir.path, "\"version\": 2", "\"version\": 1");
  CHECK(contains(error_text([&] { (void)sim::load_manifest(dir.path); }), "could not mark an unfinished run"));
}

TEST_CASE("hostile: the .npy reader checks the header and the size before reading any data") {
  TempDir dir;
  const fs::path good = dir.path / "good.npy";
  sim::write_npy(good, ramp(2, 2));
  // /dev/zero never ends; a FIFO or a directory has no size: all refused, none read.
  CHECK(contains(error_text([] { (void)sim::read_npy("/dev/zero"); }), "not a regular file"));
  CHECK(contains(error_text([&] { (void)sim::read_npy(dir.path); }), "not a regular file"));
  // A 3 GB sparse file behind a small valid header: refused at once, nothing allocated.
  const fs::path sparse = dir.path / "sparse.npy";
  fs::copy_file(good, sparse);
  fs::resize_file(sparse, std::uintmax_t{3} << 30);
  CHECK(contains(error_text([&] { (void)sim::read_npy(sparse); }), "unexpected bytes after the data"));
  // A header that promises 3 GB of data the file really has: refused by the memory budget.
  const std::string header = slurp(good).substr(0, 128);
  std::string big = header;
  // 3 GiB of float32; the 8 extra characters come out of the header's padding, so its length stays.
  big.replace(big.find("(2, 2), }"), 17, "(24576, 32768), }");
  spit(dir.path / "big.npy", big);
  fs::resize_file(dir.path / "big.npy", 128 + (std::uintmax_t{3} << 30));
  ::setenv("ATP_MEMORY_LIMIT", "1G", 1);
  const std::string e = error_text([&] { (void)sim::read_npy(dir.path / "big.npy"); });
  ::unsetenv("ATP_MEMORY_LIMIT");
  CHECK(contains(e, "needs about 3.0 GiB"));
  // A version-2.0 header announcing 4 GB of header text; a key given twice.
  spit(dir.path / "v2.npy", std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12) + "{}");
  CHECK(contains(error_text([&] { (void)sim::read_npy(dir.path / "v2.npy"); }), "larger than the limit"));
  std::string twice = slurp(good);
  twice.replace(twice.find("'fortran_order': False"), 22, "'descr': '<f4',       ");
  spit(dir.path / "twice.npy", twice);
  CHECK(contains(error_text([&] { (void)sim::read_npy(dir.path / "twice.npy"); }), "'descr' twice"));
}

TEST_CASE("hostile: deep nesting and loose numbers in manifests and golden files are refused") {
  TempDir dir;
  small_dump(dir.path);
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  edit_manifest(dir.path, "\"config\": {", "\"config\": {\"deep\": " + deep + ", ");
  CHECK(contains(error_text([&] { (void)sim::load_manifest(dir.path); }), "deeper than 64 levels"));
  const struct {
    const char* from;
    const char* to;
    const char* fragment;
  } loose[] = {
      {"\"rank\": -1", "\"rank\": 1e300", "\"rank\" must be an integer"},
      {"\"rank\": -1", "\"rank\": true", "\"rank\" must be an integer"},
      {"\"shape\": [\n        2,\n        3\n      ]", "\"shape\": [2.9, 3.2]", "shape dimension must be an integer"},
      {"\"shape\": [\n        2,\n        3\n      ]", "\"shape\": [2, -3]", "shape dimension must be an integer"},
      {"\"version\": 2", "\"version\": 2.0", "unsupported \"version\""},
      {"\"file\": \"x.npy\"", "\"file\": \"../x.npy\"", "expected \"x.npy\""},
      {"\"dtype\": \"float32\"", "\"dtype\": \"float64\"", "valid: float32, int64"},
      {"\"role\": \"input\",", "\"role\": \"input\", \"extra\": 1,", "unknown key \"extra\""},
  };
  for (const auto& c : loose) {
    INFO(c.to);
    small_dump(dir.path);
    edit_manifest(dir.path, c.from, c.to);
    CHECK(contains(error_text([&] { (void)sim::load_manifest(dir.path); }), c.fragment));
  }
  const auto golden = [](const std::string& config) {
    return R"({"format": "atp-golden", "version": 1, "configs": [{"config": )" + config + R"(, "tensors": {}}]})";
  };
  CHECK(contains(error_text([&] { (void)sim::parse_golden(golden(R"({"chapter": 4294967297})"), "g"); }),
                 "\"chapter\" must be an integer in [0, 99], got 4294967297"));
  CHECK(contains(error_text([&] { (void)sim::parse_golden(golden(R"({"chapter": 1, "p": 2.9})"), "g"); }),
                 "\"p\" must be an integer in [1, 4096], got 2.9"));
  CHECK(contains(error_text([&] { (void)sim::parse_golden(golden(R"({"chapter": 1, "rows": "2"})"), "g"); }),
                 "\"rows\" must be an integer"));
  CHECK(contains(error_text([&] { (void)sim::parse_golden(golden(R"({"chapter": 1, "seed": -1})"), "g"); }),
                 "\"seed\" must be an integer in [0, 18446744073709551615]"));
  const std::string dup_tensor = R"({"format": "atp-golden", "version": 1, "configs": [{"config": {"chapter": 1},
      "tensors": {"x": {"shape": [1], "fnv1a64": "0123456789abcdef"}, "x": {"shape": [1], "fnv1a64": "0123456789abcdef"}}}]})";
  CHECK(contains(error_text([&] { (void)sim::parse_golden(dup_tensor, "g"); }), "\"x\" appears twice"));
  CHECK(contains(error_text([&] { (void)sim::parse_golden(golden(R"({"chapter": 1, "deep": )" + deep + "}"), "g"); }),
                 "deeper than 64 levels"));
}

TEST_CASE("hostile: write_golden reports a file it could not write and keeps the old one") {
  TempDir dir;
  const fs::path file = dir.path / "ch01.json";
  sim::GoldenFile g;
  g.written_by = {{"gpu", "test"}};
  sim::GoldenEntry e{{{"chapter", 1}, {"p", 1}, {"seed", 1}, {"rows", 2}, {"cols", 3}}, {}};
  for (int k = 0; k < 200; ++k) e.tensors["t" + std::to_string(k)] = {{2, 3}, "0123456789abcdef"};
  g.upsert(e);
  spit(file, "the old file");
  // A full disk, simulated in a child with a 512-byte file size limit: the
  // write fails with EFBIG (SIGXFSZ ignored). It used to return normally.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit small{512, 512};
    ::setrlimit(RLIMIT_FSIZE, &small);
    try {
      sim::write_golden(file, g);
    } catch (const std::runtime_error& err) {
      std::_Exit(std::string(err.what()).find("write failed") != std::string::npos ? 0 : 2);
    } catch (...) {
      std::_Exit(3);
    }
    std::_Exit(1);  // returned normally: the bug
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(slurp(file) == "the old file");
  // Without the limit it is written whole, and reads back.
  sim::write_golden(file, g);
  CHECK(sim::read_golden(file).entries.at(0).tensors.size() == 200);
}
