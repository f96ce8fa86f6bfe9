/// \file test_reader_agreement.cpp
/// \brief The C++ loader (load_manifest, load_tensor) and notebooks/atp_dump.py
///        accept and refuse the same dumps, and the Python one refuses with a
///        clean DumpError, never a traceback from inside json or NumPy.
///
/// Each case starts from a small valid dump (a float32 tensor x (2, 3) and an
/// int64 vector ids (4)) and breaks one thing. Needs /usr/bin/python3 with
/// NumPy; skips ("ATP-SKIP:") without it.
#include "atp/sim/dump.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#ifndef ATP_NOTEBOOKS_DIR
#error "ATP_NOTEBOOKS_DIR must name the source tree's notebooks/ folder"
#endif

namespace fs = std::filesystem;
namespace sim = atp::sim;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Replaces `from` by `to` in a file (which must contain it).
void edit(const fs::path& file, const std::string& from, const std::string& to) {
  std::string text = slurp(file);
  const auto at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "'" << from << "' not in " << file);
  text.replace(at, from.size(), to);
  spit(file, text);
}

// In a .npy header, replaces `from` by `to` and takes the length difference out
// of the padding spaces, so the header length (and the data offset) stays.
void edit_header(const fs::path& file, const std::string& from, const std::string& to) {
  std::string text = slurp(file);
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  const auto newline = text.find('\n');
  if (to.size() > from.size()) text.erase(newline - (to.size() - from.size()), to.size() - from.size());
  else text.insert(newline, from.size() - to.size(), ' ');
  spit(file, text);
}

void base_dump(const fs::path& dir) {
  sim::Dumper d(dir, {{"chapter", 6}, {"note", "base"}});
  atp::Matrix x(2, 3);
  x << 1, 2, 3, 4, 5, 6;
  d.add("x", x, "input");
  d.add_i64("ids", {3, 1, 4, 1}, "input");
  d.finish();
}

// The C++ verdict: every tensor loads, or the first refusal's message.
std::string cpp_verdict(const fs::path& dir) {
  try {
    for (const auto& e : sim::load_manifest(dir).tensors) {
      if (e.dtype == "int64") (void)sim::load_tensor_i64(dir, e.name);
      else (void)sim::load_tensor(dir, e.name);
    }
    return "accept";
  } catch (const std::exception& e) {
    return std::string("refuse ") + e.what();
  }
}

struct Case {
  const char* name;
  std::function<void(const fs::path&)> breakit;
};

const fs::path M = "manifest.json";

const std::vector<Case> kCases = {
    {"valid", [](const fs::path&) {}},
    {"incomplete", [](const fs::path& d) { edit(d / M, "\"complete\": true", "\"complete\": false"); }},
    {"version 1", [](const fs::path& d) { edit(d / M, "\"version\": 2", "\"version\": 1"); }},
    {"version true", [](const fs::path& d) { edit(d / M, "\"version\": 2", "\"version\": true"); }},
    {"no complete flag", [](const fs::path& d) { edit(d / M, "\"complete\": true,", ""); }},
    {"tensor listed twice", [](const fs::path& d) { edit(d / M, "\"tensors\": [", "\"tensors\": [{\"name\": \"x\", \"file\": \"x.npy\", \"role\": \"input\", \"rank\": -1, \"shape\": [2, 3], \"dtype\": \"float32\", \"fnv1a64\": \"0123456789abcdef\"},"); }},
    {"duplicate config key", [](const fs::path& d) { edit(d / M, "\"config\": {", "\"config\": {\"chapter\": 7, "); }},
    {"nested 200000 deep", [](const fs::path& d) { edit(d / M, "\"config\": {", "\"config\": {\"deep\": " + std::string(200000, '[') + std::string(200000, ']') + ", "); }},
    {"nested 65 deep", [](const fs::path& d) { edit(d / M, "\"config\": {", "\"config\": {\"deep\": " + std::string(63, '[') + std::string(63, ']') + ", "); }},
    {"nested 64 deep", [](const fs::path& d) { edit(d / M, "\"config\": {", "\"config\": {\"deep\": " + std::string(62, '[') + std::string(62, ']') + ", "); }},
    {"NaN in config", [](const fs::path& d) { edit(d / M, "\"config\": {", "\"config\": {\"eps\": NaN, "); }},
    {"1e400 in config", [](const fs::path& d) { edit(d / M, "\"config\": {", "\"config\": {\"eps\": 1e400, "); }},
    {"lone surrogate", [](const fs::path& d) { edit(d / M, "\"config\": {", "\"config\": {\"s\": \"\\ud800\", "); }},
    {"byte order mark", [](const fs::path& d) { spit(d / M, "\xEF\xBB\xBF" + slurp(d / M)); }},
    {"config an array", [](const fs::path& d) { edit(d / M, "\"note\": \"base\"", "\"note\": [1]"); edit(d / M, "\"config\": {", "\"config\": [{"); edit(d / M, "},\n  \"tensors\"", "}],\n  \"tensors\""); }},
    {"tensors an object", [](const fs::path& d) { edit(d / M, "\"tensors\": [", "\"tensors\": {\"a\": ["); spit(d / M, slurp(d / M).substr(0, slurp(d / M).rfind('}')) + "}}\n"); }},
    {"rank 1e300", [](const fs::path& d) { edit(d / M, "\"rank\": -1", "\"rank\": 1e300"); }},
    {"rank 2^31", [](const fs::path& d) { edit(d / M, "\"rank\": -1", "\"rank\": 2147483648"); }},
    {"shape of floats", [](const fs::path& d) { edit(d / M, "\"shape\": [\n        2,\n        3\n      ]", "\"shape\": [2.0, 3.0]"); }},
    {"int64 of rank 2", [](const fs::path& d) { edit(d / M, "\"shape\": [\n        4\n      ]", "\"shape\": [1, 4]"); }},
    {"missing role", [](const fs::path& d) { edit(d / M, "\"role\": \"input\",", ""); }},
    {"unknown key", [](const fs::path& d) { edit(d / M, "\"role\": \"input\",", "\"role\": \"input\", \"extra\": 1,"); }},
    {"file name elsewhere", [](const fs::path& d) { edit(d / M, "\"file\": \"x.npy\"", "\"file\": \"ids.npy\""); }},
    {"bad digest text", [](const fs::path& d) { std::string t = slurp(d / M); const auto at = t.find("\"fnv1a64\": \"") + 12; t[at] = 'G'; spit(d / M, t); }},
    {"manifest a directory", [](const fs::path& d) { fs::remove(d / M); fs::create_directory(d / M); }},
    {"x.npy missing", [](const fs::path& d) { fs::remove(d / "x.npy"); }},
    {"trailing bytes", [](const fs::path& d) { spit(d / "x.npy", slurp(d / "x.npy") + "junk"); }},
    {"truncated data", [](const fs::path& d) { const std::string b = slurp(d / "x.npy"); spit(d / "x.npy", b.substr(0, b.size() - 4)); }},
    {"fortran order", [](const fs::path& d) { edit_header(d / "x.npy", "'fortran_order': False", "'fortran_order': True"); }},
    {"big-endian", [](const fs::path& d) { edit_header(d / "x.npy", "'<f4'", "'>f4'"); }},
    {"float64 descr", [](const fs::path& d) { edit_header(d / "x.npy", "'<f4'", "'<f8'"); }},
    {"header key twice", [](const fs::path& d) { edit_header(d / "x.npy", "'fortran_order': False, ", "'fortran_order': False, 'fortran_order': False, "); }},
    {"header extra key", [](const fs::path& d) { edit_header(d / "x.npy", "'fortran_order': False, ", "'fortran_order': False, 'x': 'y', "); }},
    {"header double quotes", [](const fs::path& d) { edit_header(d / "x.npy", "'descr': '<f4'", "\"descr\": \"<f4\""); }},
    {"shape with a trailing comma", [](const fs::path& d) { edit_header(d / "x.npy", "(2, 3)", "(2, 3,)"); }},
    {"shape (6,) for [2, 3]", [](const fs::path& d) { edit_header(d / "x.npy", "(2, 3)", "(6,)"); }},
    {"shape (1, 6) for [2, 3]", [](const fs::path& d) { edit_header(d / "x.npy", "(2, 3)", "(1, 6)"); }},
    {"version 3.0", [](const fs::path& d) { std::string b = slurp(d / "x.npy"); b[6] = '\x03'; spit(d / "x.npy", b); }},
    {"an .npz archive", [](const fs::path& d) { spit(d / "x.npy", std::string("PK\x03\x04", 4) + std::string(200, '\0')); }},
    {"empty .npy", [](const fs::path& d) { spit(d / "x.npy", ""); }},
    {"header without newline", [](const fs::path& d) { std::string b = slurp(d / "x.npy"); b[127] = ' '; spit(d / "x.npy", b); }},
};

}  // namespace

TEST_CASE("atp_dump.py and the C++ loader accept and refuse the same dumps") {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    MESSAGE("ATP-SKIP: /usr/bin/python3 with numpy not found; atp_dump.py not compared with the C++ loader");
    return;
  }
  const fs::path root = fs::temp_directory_path() / ("atp_agree_" + std::to_string(::getpid()));
  fs::remove_all(root);
  std::vector<std::string> cpp;
  std::string args;
  for (std::size_t k = 0; k < kCases.size(); ++k) {
    const fs::path d = root / ("case" + std::to_string(k));
    base_dump(d);
    kCases[k].breakit(d);
    cpp.push_back(cpp_verdict(d));
    args += " '" + d.string() + "'";
  }
  const fs::path script = root / "verdicts.py";
  spit(script,
       "import sys\n"
       "sys.path.insert(0, sys.argv[1])\n"
       "import atp_dump\n"
       "for d in sys.argv[2:]:\n"
       "    try:\n"
       "        atp_dump.load(d)\n"
       "        print('accept')\n"
       "    except atp_dump.DumpError as e:\n"
       "        print('refuse', str(e).replace('\\n', ' ')[:300])\n"
       "    except BaseException as e:\n"
       "        print('CRASH', type(e).__name__, str(e)[:200])\n");
  const fs::path out = root / "verdicts.txt";
  const std::string cmd = "/usr/bin/python3 '" + script.string() + "' '" + std::string(ATP_NOTEBOOKS_DIR) + "'" +
                          args + " > '" + out.string() + "' 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::istringstream lines(slurp(out));
  std::vector<std::string> py;
  for (std::string line; std::getline(lines, line);) py.push_back(line);
  REQUIRE(py.size() == kCases.size());
  int accepted = 0;
  for (std::size_t k = 0; k < kCases.size(); ++k) {
    INFO("case '" << kCases[k].name << "'\n  C++:    " << cpp[k].substr(0, 300) << "\n  Python: " << py[k]);
    CHECK(py[k].rfind("CRASH", 0) != 0);
    CHECK(cpp[k].substr(0, 6) == py[k].substr(0, 6));
    accepted += cpp[k] == "accept" ? 1 : 0;
  }
  // The valid dump and its harmless variants (64 levels, double quotes, a trailing comma) load; the rest do not.
  CHECK(accepted == 4);
  fs::remove_all(root);
}
