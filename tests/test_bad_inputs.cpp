/// \file test_bad_inputs.cpp
/// \brief The catalogue of bad inputs, one table: every row runs a real
///        binary (a chapter, a GPU worker, atp-compare, atp_dump.py) with one
///        bad value or one hostile condition and asserts that it exits non-zero
///        with a message on stderr that names the bad value.
///
/// Rows are the cases a hostile input probe found accepted silently (issue
/// 15), plus their neighbours. GPU workers and atp-compare parse their command
/// line before looking for a GPU, so their rows run on any machine where they
/// were built. The library-level cases (forged manifests, links, huge files)
/// are in test_hostile_files.cpp and test_reader_agreement.cpp.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#ifndef ATP_CHAPTERS_DIR
#error "ATP_CHAPTERS_DIR must name the build's chapters/ folder"
#endif
#ifndef ATP_NOTEBOOKS_DIR
#error "ATP_NOTEBOOKS_DIR must name the source tree's notebooks/ folder"
#endif

namespace fs = std::filesystem;

namespace {

const fs::path kChapters = ATP_CHAPTERS_DIR;

std::string ch(const char* folder, const char* exe) { return (kChapters / folder / exe).string(); }

const std::string CH00 = ch("00-numbers-that-match", "atp-ch00-numbers-that-match");
const std::string CH01 = ch("01-ranks-and-collectives", "atp-ch01-ranks-and-collectives");
const std::string CH02 = ch("02-column-parallel-linear", "atp-ch02-column-parallel-linear");
const std::string CH03 = ch("03-row-parallel-linear", "atp-ch03-row-parallel-linear");
const std::string CH04 = ch("04-parallel-mlp", "atp-ch04-parallel-mlp");
const std::string CH05 = ch("05-parallel-attention", "atp-ch05-parallel-attention");
const std::string CH06 = ch("06-vocab-parallel-embedding", "atp-ch06-vocab-parallel-embedding");
const std::string CH07 = ch("07-tensor-parallel-decoder", "atp-ch07-tensor-parallel-decoder");
const std::string PY = "/usr/bin/python3 '" + (fs::path(ATP_NOTEBOOKS_DIR) / "atp_dump.py").string() + "'";

/// One row: `command` (a program and its arguments, shell words; `{DIR}` is a
/// fresh folder) must exit non-zero with `expect` in its stderr.
struct Row {
  std::string what;                                  ///< the case, as the issue names it
  std::string command;                               ///< run through /bin/sh in {DIR}
  std::string expect;                                ///< must appear in stderr
  std::function<void(const fs::path&)> setup = {};   ///< prepares {DIR} first
  std::function<void(const fs::path&)> after = {};   ///< extra checks afterwards
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << bytes;
}

std::string with_dir(std::string s, const fs::path& dir) {
  for (std::size_t at; (at = s.find("{DIR}")) != std::string::npos;) s.replace(at, 5, dir.string());
  return s;
}

// A finished chapter-2 dump in DIR/d, the base of the atp_dump.py rows.
void ch02_dump(const fs::path& dir) {
  const std::string cmd = "'" + CH02 + "' --tp 2 --dump '" + (dir / "d").string() + "' > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

void edit(const fs::path& file, const std::string& from, const std::string& to) {
  std::string text = slurp(file);
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  spit(file, text);
}

std::vector<Row> rows() {
  std::vector<Row> r = {
      // --- 8. values CLI11 accepted silently -------------------------------------
      {"seed -1 (was 2^64-1)", CH02 + " --seed -1", "--seed '-1' is not valid"},
      {"seed 2^64 (was 2^64-1)", CH02 + " --seed 18446744073709551616", "--seed '18446744073709551616'"},
      {"seed 1e23 (was 2^64-1)", CH02 + " --seed 1e23", "--seed '1e23'"},
      {"seed with a sign", CH01 + " --seed +7", "--seed '+7'"},
      {"tp in hex", CH02 + " --tp 0x10", "--tp '0x10'"},
      {"tp out of range", CH02 + " --tp 65", "--tp '65' is not valid: expected a decimal integer in [1, 64]"},
      {"tokens not an integer", CH02 + " --tokens 4.0", "--tokens '4.0'"},
      {"causal -1 (was off)", CH05 + " --causal -1", "--causal '-1'"},
      {"causal 2 (was on)", CH05 + " --causal 2", "--causal '2'"},
      {"causal yes (was on)", CH05 + " --causal yes", "--causal 'yes'"},
      {"a flag with a value", CH02 + " --narrate 2", "--narrate '2'"},
      {"percent nan (ran)", CH06 + " --sweep --percent nan", "--percent 'nan'"},
      {"percent inf", CH06 + " --percent inf", "--percent 'inf'"},
      {"dump --narrate (wrote a folder called --narrate)", CH02 + " --dump --narrate", "--dump '--narrate'"},
      {"dump '' (wrote nothing)", CH02 + " --dump ''", "--dump ''"},
      {"ids with a trailing comma (was ignored)", CH06 + " --ids 3,4,", "--ids '3,4,' is not valid: item 2 is empty"},
      {"ids with an empty item", CH06 + " --ids 3,,4", "item 1 is empty"},
      {"ids not integers", CH06 + " --ids 3,x", "item 1 'x'"},
      {"unknown choice", CH03 + " --order random", "--order 'random' is not valid: expected one of rank-order, ring"},
      {"unknown mlp", CH04 + " --mlp relu", "--mlp 'relu'"},
      {"samples out of range", CH00 + " --samples 0", "--samples '0'"},
      {"an option given twice", CH01 + " --tp 2 --tp 3", "--tp"},
      {"decoder: steps -1", CH07 + " --steps -1", "--steps '-1' is not valid"},
      {"decoder: seed 1e23", CH07 + " --seed 1e23", "--seed '1e23'"},
      {"decoder: dump --narrate", CH07 + " --dump --narrate", "--dump '--narrate'"},
      {"decoder: prompt ids with a trailing comma", CH07 + " --prompt-ids 1,84,", "item 2 ('') is not an integer"},
      {"decoder: unknown logits collective", CH07 + " --logits scatter", "--logits 'scatter' is not valid"},
      // --- 9. output that could not be written --------------------------------
      {"stdout is /dev/full (exited 0)", CH01 + " --tp 2 > /dev/full", "writing standard output failed"},
      {"--help to /dev/full", CH02 + " --help > /dev/full", "writing standard output failed"},
      {"stdout closed", CH03 + " >&-", "writing standard output failed"},
      // --- 10. sizes the CLI allows, memory does not ----------------------------
      {"ch02 beyond the memory limit", "ATP_MEMORY_LIMIT=64M " + CH02 + " --tp 64 --tokens 4096 --out 16384 --in 16384 --gather-output",
       "this configuration needs about"},
      {"ch01 beyond the memory limit", "ATP_MEMORY_LIMIT=1G " + CH01 + " --tp 64 --rows 4096 --cols 4096",
       "the limit is 1.0 GiB (1073741824 bytes) (ATP_MEMORY_LIMIT=1G)"},
      {"ch04 beyond the memory limit", "ATP_MEMORY_LIMIT=256M " + CH04 + " --hidden 8192 --intermediate 32768",
       "weights (I, H)"},
      {"ch05 beyond the memory limit", "ATP_MEMORY_LIMIT=1G " + CH05 + " --tokens 4096 --hidden 4096 --heads 1024 --kv-heads 1024",
       "scores and probabilities (T, T) per head"},
      {"ch06 beyond the memory limit", "ATP_MEMORY_LIMIT=1G " + CH06 + " --vocab 4194304 --hidden 4096", "needs about"},
      {"ch03 beyond the memory limit", "ATP_MEMORY_LIMIT=16M " + CH03 + " --in 16384 --out 16384", "needs about"},
      {"a bad memory limit", "ATP_MEMORY_LIMIT=lots " + CH02, "ATP_MEMORY_LIMIT='lots'"},
      // --- 2. a link where the dump writes ---------------------------------------
      {"a symbolic link at DIR/d/x.npy", CH02 + " --tp 2 --dump {DIR}/d", "symbolic link",
       [](const fs::path& d) {
         spit(d / "victim", "precious");
         fs::create_directories(d / "d");
         fs::create_symlink(d / "victim", d / "d" / "x.npy");
       },
       [](const fs::path& d) { CHECK(slurp(d / "victim") == "precious"); }},
      // --- 3, 11. dumps atp_dump.py must refuse cleanly (and the C++ loader too) ---
      {"an incomplete dump", PY + " {DIR}/d", "incomplete",
       [](const fs::path& d) { ch02_dump(d); edit(d / "d" / "manifest.json", "\"complete\": true", "\"complete\": false"); }},
      {"a tensor listed twice", PY + " {DIR}/d", "lists the tensor 'x' twice",
       [](const fs::path& d) {
         ch02_dump(d);
         const std::string m = slurp(d / "d" / "manifest.json");
         const auto first = m.find("    {\n      \"name\": \"x\"");
         const auto end = m.find("    },\n", first) + 7;
         edit(d / "d" / "manifest.json", "\"tensors\": [\n", "\"tensors\": [\n" + m.substr(first, end - first));
       }},
      {"a missing key", PY + " {DIR}/d", "has no \"role\"",
       [](const fs::path& d) { ch02_dump(d); edit(d / "d" / "manifest.json", "\"role\": \"input\",", ""); }},
      {"a wrong type", PY + " {DIR}/d", "\"rank\" must be an integer in [-1, 2147483647], got 1e+300",
       [](const fs::path& d) { ch02_dump(d); edit(d / "d" / "manifest.json", "\"rank\": -1", "\"rank\": 1e300"); }},
      {"deep nesting", PY + " {DIR}/d", "deeper than 64 levels",
       [](const fs::path& d) {
         ch02_dump(d);
         edit(d / "d" / "manifest.json", "\"config\": {", "\"config\": {\"a\": " + std::string(100000, '[') + std::string(100000, ']') + ", ");
       }},
      {"NaN in the manifest", PY + " {DIR}/d", "NaN is not a JSON number",
       [](const fs::path& d) { ch02_dump(d); edit(d / "d" / "manifest.json", "\"config\": {", "\"config\": {\"eps\": NaN, "); }},
      {"an .npz in place of x.npy", PY + " {DIR}/d", "missing the magic",
       [](const fs::path& d) { ch02_dump(d); spit(d / "d" / "x.npy", std::string("PK\x03\x04", 4) + std::string(64, '\0')); }},
      {"trailing bytes after x", PY + " {DIR}/d", "4 unexpected bytes after the data",
       [](const fs::path& d) { ch02_dump(d); spit(d / "d" / "x.npy", slurp(d / "d" / "x.npy") + "junk"); }},
      {"Fortran order", PY + " {DIR}/d", "fortran_order is True",
       [](const fs::path& d) {
         ch02_dump(d);
         std::string b = slurp(d / "d" / "x.npy");
         b.replace(b.find("False, 'shape'"), 14, "True , 'shape'");
         spit(d / "d" / "x.npy", b);
       }},
  };
#ifdef ATP_COMPARE_EXE
  // --- 14. atp-compare --set (parsed before it looks for a GPU) ---------------------
  const std::string compare = std::string(ATP_COMPARE_EXE);
  r.push_back({"--set rows=3abc (used 3)", compare + " --chapter 1 --set rows=3abc", "--set rows '3abc' is not valid"});
  r.push_back({"--set rows= (aborted with 'stoll')", compare + " --chapter 1 --set rows=", "--set rows '' is not valid"});
  r.push_back({"--set an unknown key", compare + " --chapter 1 --set depth=3", "--set depth=3: chapter 1 takes KEY=VALUE"});
  r.push_back({"--set a key twice", compare + " --chapter 1 --set rows=2 --set rows=3", "rows was already set"});
  r.push_back({"--chapter 4294967297", compare + " --chapter 4294967297", "--chapter '4294967297'"});
  r.push_back({"--timeout nan", compare + " --timeout nan", "--timeout 'nan'"});
#endif
#ifdef ATP_HAVE_GPU_WORKERS
  // --- 8. the GPU workers share the command line (parsed before joining the world) ---
  r.push_back({"GPU worker: seed -1", CH02 + "-gpu --seed -1", "--seed '-1'"});
  r.push_back({"GPU worker: causal yes", ch("05-parallel-attention", "atp-ch05-parallel-attention-gpu") + " --causal yes",
               "--causal 'yes'"});
  r.push_back({"GPU worker: ids 1,,2", ch("06-vocab-parallel-embedding", "atp-ch06-vocab-parallel-embedding-gpu") + " --ids 1,,2",
               "item 1 is empty"});
  r.push_back({"GPU worker: dump --seed", ch("01-ranks-and-collectives", "atp-ch01-ranks-and-collectives-gpu") + " --dump --seed",
               "--dump '--seed'"});
#endif
  return r;
}

}  // namespace

TEST_CASE("catalogue: every bad input is refused with a non-zero exit and a message naming it") {
  const fs::path root = fs::temp_directory_path() / ("atp_bad_inputs_" + std::to_string(::getpid()));
  int n = 0;
  for (const Row& row : rows()) {
    const fs::path dir = root / ("row" + std::to_string(n++));
    fs::remove_all(dir);
    fs::create_directories(dir);
    if (row.setup) row.setup(dir);
    const fs::path err = dir / "stderr.txt";
    const std::string cmd = "cd '" + dir.string() + "' && " + with_dir(row.command, dir) + " 2> '" + err.string() + "'" +
                            (row.command.find('>') == std::string::npos ? " > /dev/null" : "");
    const int status = std::system(cmd.c_str());
    const int rc = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
    const std::string text = slurp(err);
    INFO("case: " << row.what << "\ncommand: " << cmd << "\nexit: " << rc << "\nstderr: " << text.substr(0, 2000));
    CHECK(rc > 0);
    CHECK(rc < 128);  // an error, not a crash by signal
    CHECK(text.find(row.expect) != std::string::npos);
    CHECK(text.find("Traceback") == std::string::npos);
    CHECK(text.find("terminate called") == std::string::npos);
    if (row.after) row.after(dir);
  }
  fs::remove_all(root);
}

TEST_CASE("catalogue: every chapter binary's --help shows a default for every option") {
  for (const std::string& exe : {CH00, CH01, CH02, CH03, CH04, CH05, CH06}) {
    const fs::path out = fs::temp_directory_path() / ("atp_help_" + std::to_string(::getpid()) + ".txt");
    REQUIRE(std::system(("'" + exe + "' --help > '" + out.string() + "' 2>&1").c_str()) == 0);
    const std::string help = slurp(out);
    fs::remove(out);
    INFO(exe << " --help:\n" << help);
    CHECK(help.find("--seed UINT64, default 2026") != std::string::npos);
    CHECK(help.find("--dump PATH, default no dump") != std::string::npos);
    // Every option line but --help itself carries ", default ".
    std::size_t options = 0, defaults = 0;
    for (std::size_t at = 0; (at = help.find("\n  --", at)) != std::string::npos; ++at) {
      ++options;
      const std::string line = help.substr(at, help.find('\n', at + 1) - at);
      defaults += line.find(", default ") != std::string::npos ? 1 : 0;
    }
    CHECK(options >= 4);
    CHECK(defaults == options);
  }
}
