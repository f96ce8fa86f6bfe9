/// \file test_npy_dump.cpp
/// \brief Tests of the `.npy` writer/reader and the dump directory format.
///
/// Proves: bitwise round trips (special values included), header bytes equal
/// to the NumPy format 1.0 spec written out by hand, clear refusals of
/// corrupt files, a correct and deterministic manifest, and — when
/// /usr/bin/python3 has numpy — that real NumPy and notebooks/atp_dump.py
/// read what we write (otherwise those cases print "ATP-SKIP:").
#include "atp/sim/dump.hpp"
#include "atp/sim/npy.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
using atp::Matrix;

namespace {

// A fresh directory per use, removed afterwards; pid keeps parallel ctest runs apart.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("atp_test_npy_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE(f);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void put_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

float from_bits(std::uint32_t u) { return std::bit_cast<float>(u); }
std::uint32_t bits(float f) { return std::bit_cast<std::uint32_t>(f); }

// Row-major fill with exact, distinct values.
Matrix counting(int rows, int cols) {
  Matrix m(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) m(i, j) = static_cast<float>(i * 100 + j) + 0.25f;
  return m;
}

// Bit patterns NumPy and a careless writer may disagree on.
const std::vector<std::uint32_t> kSpecialBits = {
    0x7fc00000u,  // quiet NaN
    0x7fa00001u,  // signalling NaN with a payload
    0xffc00123u,  // negative NaN with a payload
    0x7f800000u,  // +inf
    0xff800000u,  // -inf
    0x80000000u,  // -0
    0x00000001u,  // smallest subnormal
    0x807fffffu,  // largest negative subnormal
    0x7f7fffffu,  // FLT_MAX
    0x3f800000u,  // 1
};

Matrix special_matrix() {
  Matrix m(2, 5);
  for (int k = 0; k < 10; ++k) m.data()[k] = from_bits(kSpecialBits[static_cast<std::size_t>(k)]);
  return m;
}

void check_bitwise(const Matrix& got, const Matrix& want) {
  REQUIRE(got.rows() == want.rows());
  REQUIRE(got.cols() == want.cols());
  for (Eigen::Index k = 0; k < want.size(); ++k) {
    INFO("element " << k << ": got 0x" << std::hex << bits(got.data()[k]) << ", want 0x" << bits(want.data()[k]));
    REQUIRE(bits(got.data()[k]) == bits(want.data()[k]));
  }
}

// Expects `fn` to throw E with every fragment in its message.
template <class E, class Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& fragments) {
  try {
    fn();
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const auto& frag : fragments) {
      INFO("message: " << msg << "\nmissing: " << frag);
      CHECK(msg.find(frag) != std::string::npos);
    }
    return;
  } catch (const std::exception& e) {
    FAIL("wrong exception type, message: " << e.what());
    return;
  }
  FAIL("no exception; expected one mentioning " << fragments.front());
}

bool python_numpy_available() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

// A path as one shell word (the temp paths used here hold no single quote).
std::string quoted(const fs::path& p) {
  std::string s(1, '\'');
  s += p.string();
  s += '\'';
  return s;
}

// Runs a Python script file; returns its exit code, output in `out`.
int run_python(const fs::path& script, const std::string& args, std::string& out) {
  const fs::path log = script.string() + ".log";
  const std::string cmd = "/usr/bin/python3 " + quoted(script) + " " + args + " >" + quoted(log) + " 2>&1";
  const int rc = std::system(cmd.c_str());
  out = file_bytes(log);
  return rc;
}

// The notebooks folder of the source tree this test was configured from
// (tests/CMakeLists.txt), so the test runs the same from any working directory.
#ifndef ATP_NOTEBOOKS_DIR
#error "ATP_NOTEBOOKS_DIR must name the source tree's notebooks/ folder"
#endif
fs::path notebooks_dir() { return fs::path(ATP_NOTEBOOKS_DIR); }

std::string hex_list(const Matrix& m) {
  std::ostringstream s;
  s << "[";
  for (Eigen::Index k = 0; k < m.size(); ++k) s << (k ? ", " : "") << bits(m.data()[k]);
  s << "]";
  return s.str();
}

}  // namespace

TEST_CASE("npy round trip is bitwise for 1x1, 3x5, 0x4, 1x0 and special values") {
  TempDir dir;
  const std::vector<Matrix> cases = {counting(1, 1), counting(3, 5), Matrix(0, 4), Matrix(1, 0), special_matrix()};
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const fs::path p = dir.path / (std::to_string(c) + ".npy");
    atp::sim::write_npy(p, cases[c]);
    INFO("case " << c << " shape (" << cases[c].rows() << ", " << cases[c].cols() << ")");
    check_bitwise(atp::sim::read_npy(p), cases[c]);
  }
  const std::vector<std::int64_t> ids = {0, 1, -1, 50256, std::numeric_limits<std::int64_t>::min(),
                                         std::numeric_limits<std::int64_t>::max()};
  atp::sim::write_npy_i64(dir.path / "ids.npy", ids);
  CHECK(atp::sim::read_npy_i64(dir.path / "ids.npy") == ids);
  atp::sim::write_npy_i64(dir.path / "none.npy", {});
  CHECK(atp::sim::read_npy_i64(dir.path / "none.npy").empty());
}

TEST_CASE("npy header is the NumPy format 1.0 spec, byte for byte") {
  TempDir dir;
  // Spec (numpy.lib.format, NumPy 1.24): magic "\x93NUMPY", major 1, minor 0,
  // uint16 little-endian HEADER_LEN, then the dict repr, then spaces and '\n'
  // so that 10 + HEADER_LEN is a multiple of 64. NumPy >= 1.23 first appends
  // 21 - len(str(shape[0])) spaces of room to grow axis 0.
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }";
  REQUIRE(dict.size() == 59);
  // 10 + 59 + 20 growth + 38 pad + 1 newline = 128 = 2 * 64, so HEADER_LEN = 118 = 0x76.
  const std::string want_header = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict + std::string(20, ' ') +
                                  std::string(38, ' ') + "\n";
  REQUIRE(want_header.size() == 128);

  const Matrix m = counting(3, 5);
  atp::sim::write_npy(dir.path / "a.npy", m);
  const std::string got = file_bytes(dir.path / "a.npy");
  REQUIRE(got.size() == 128 + 15 * 4);
  CHECK(got.substr(0, 128) == want_header);
  // Payload: row-major float32 little-endian; element (1, 2) = 102.25f = 0x42cc8000.
  const std::size_t at = 128 + (1 * 5 + 2) * 4;
  CHECK(got.substr(at, 4) == std::string("\x00\x80\xcc\x42", 4));

  // 1-D int64: shape repr "(5,)" (the trailing comma of a 1-tuple), dict of 57 bytes.
  const std::string dict_i8 = "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }";
  REQUIRE(dict_i8.size() == 57);
  // 10 + 57 + 20 growth + 40 pad + 1 = 128.
  const std::string want_i8 = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict_i8 + std::string(60, ' ') + "\n";
  atp::sim::write_npy_i64(dir.path / "i.npy", {1, 2, 3, 4, 258});
  const std::string got_i8 = file_bytes(dir.path / "i.npy");
  REQUIRE(got_i8.size() == 128 + 5 * 8);
  CHECK(got_i8.substr(0, 128) == want_i8);
  CHECK(got_i8.substr(128 + 4 * 8, 8) == std::string("\x02\x01\x00\x00\x00\x00\x00\x00", 8));

  const auto h = atp::sim::read_npy_header(dir.path / "a.npy");
  CHECK(h.descr == "<f4");
  CHECK(h.data_offset % 64 == 0);
}

TEST_CASE("read_npy accepts NumPy's 1-D float32 and format 2.0 headers") {
  TempDir dir;
  // Hand-made like numpy.save(np.arange(3, dtype=np.float32)) but in format 2.0
  // (uint32 header length): 12 + 57 + 20 + 38 + 1 = 128.
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
  std::string bytes = std::string("\x93NUMPY\x02\x00\x74\x00\x00\x00", 12) + dict + std::string(58, ' ') + "\n";
  REQUIRE(bytes.size() == 128);
  const float vals[3] = {0.0f, 1.0f, -2.5f};
  bytes.append(reinterpret_cast<const char*>(vals), sizeof vals);
  put_bytes(dir.path / "v.npy", bytes);
  const Matrix v = atp::sim::read_npy(dir.path / "v.npy");
  REQUIRE(v.rows() == 1);
  REQUIRE(v.cols() == 3);
  CHECK(bits(v(0, 2)) == bits(-2.5f));
}

TEST_CASE("read_npy refuses corrupt or unsupported files, naming file and problem") {
  TempDir dir;
  const fs::path good = dir.path / "good.npy";
  atp::sim::write_npy(good, counting(3, 5));
  const std::string base = file_bytes(good);
  const fs::path p = dir.path / "bad.npy";
  const std::string pstr = p.string();
  // Same-length edits keep HEADER_LEN valid so only the targeted check trips.
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string b = base;
    const auto at = b.find(from);
    REQUIRE(at != std::string::npos);
    REQUIRE(from.size() == to.size());
    b.replace(at, from.size(), to);
    put_bytes(p, b);
  };
  auto read = [&] { (void)atp::sim::read_npy(p); };

  put_bytes(p, "PK\x03\x04 this is a zip");
  expect_error<std::invalid_argument>(read, {pstr, "magic"});
  edited(std::string("\x93NUMPY\x01", 7), std::string("\x93NUMPY\x03", 7));
  expect_error<std::invalid_argument>(read, {pstr, "version 3.0"});
  edited("'<f4'", "'<f8'");
  expect_error<std::invalid_argument>(read, {pstr, "dtype '<f8'"});
  edited("'<f4'", "'>f4'");
  expect_error<std::invalid_argument>(read, {pstr, "dtype '>f4'"});
  edited("False", "True ");
  expect_error<std::invalid_argument>(read, {pstr, "fortran_order"});
  edited("(3, 5), ", "(3,5,1),");
  expect_error<std::invalid_argument>(read, {pstr, "rank 3"});
  edited("'shape'", "'shapf'");
  expect_error<std::invalid_argument>(read, {pstr, "unexpected key 'shapf'"});
  put_bytes(p, base.substr(0, base.size() - 3));
  expect_error<std::invalid_argument>(read, {pstr, "truncated data", "needs 60 bytes", "has 57"});
  put_bytes(p, base + "xx");
  expect_error<std::invalid_argument>(read, {pstr, "2 unexpected bytes"});
  put_bytes(p, base.substr(0, 40));
  expect_error<std::invalid_argument>(read, {pstr, "truncated header"});
  expect_error<std::invalid_argument>([&] { (void)atp::sim::read_npy_i64(good); }, {good.string(), "'<i8'"});
  expect_error<std::runtime_error>([&] { (void)atp::sim::read_npy(dir.path / "missing.npy"); },
                                   {"missing.npy", "cannot open"});
}

TEST_CASE("fnv1a64 matches the published FNV-1a test vectors") {
  auto h = [](const std::string& s) {
    return atp::sim::fnv1a64_hex(atp::sim::fnv1a64(std::as_bytes(std::span<const char>(s.data(), s.size()))));
  };
  CHECK(h("") == "cbf29ce484222325");
  CHECK(h("a") == "af63dc4c8601ec8c");
  CHECK(h("foobar") == "85944171f73967e8");
  CHECK(atp::sim::fnv1a64_hex(0x1) == "0000000000000001");
}

namespace {

// Stands in for atp::sim::PerRank<Matrix>: int size(), operator[](int) by value.
struct FakePerRank {
  std::vector<Matrix> v;
  int size() const { return static_cast<int>(v.size()); }
  Matrix operator[](int r) const { return v[static_cast<std::size_t>(r)]; }
};

void write_sample_dump(const fs::path& dir) {
  atp::sim::Dumper d(dir, {{"chapter", 2}, {"p", 2}, {"seed", 7}, {"strategy", "column"}, {"eps", 1e-5}});
  d.add("x", counting(4, 3), "input");
  d.add("W", counting(6, 3), "weight");
  d.add_per_rank("W", std::vector<Matrix>{counting(6, 3).topRows(3), counting(6, 3).bottomRows(3)}, "weight_shard");
  d.add_per_rank("y_partial", FakePerRank{{counting(4, 3), special_matrix()}}, "intermediate");
  d.add_i64("ids", {3, 1, 4, 1}, "input");
  d.add("y", special_matrix(), "output");
  d.finish();
}

}  // namespace

TEST_CASE("Dumper writes a manifest whose entries and digests match the files") {
  TempDir dir;
  write_sample_dump(dir.path);
  std::ifstream f(dir.path / "manifest.json");
  const auto j = nlohmann::ordered_json::parse(f);
  CHECK(j["format"] == "atp-dump");
  CHECK(j["version"] == 2);
  CHECK(j["complete"] == true);
  CHECK(j["config"]["strategy"] == "column");
  CHECK(j["config"]["p"] == 2);
  const auto& t = j["tensors"];
  REQUIRE(t.size() == 8);
  const std::vector<std::string> names = {"x", "W", "W.rank0", "W.rank1", "y_partial.rank0", "y_partial.rank1",
                                          "ids", "y"};
  const std::vector<int> ranks = {-1, -1, 0, 1, 0, 1, -1, -1};
  for (std::size_t k = 0; k < names.size(); ++k) {
    INFO("entry " << k);
    CHECK(t[k]["name"] == names[k]);
    CHECK(t[k]["file"] == names[k] + ".npy");
    CHECK(t[k]["rank"] == ranks[k]);
    // The digest covers the payload after the 128-byte header (all these headers are 128 bytes).
    const std::string bytes = file_bytes(dir.path / (names[k] + ".npy"));
    REQUIRE(bytes.size() >= 128);
    const auto payload = std::as_bytes(std::span<const char>(bytes.data() + 128, bytes.size() - 128));
    CHECK(t[k]["fnv1a64"] == atp::sim::fnv1a64_hex(atp::sim::fnv1a64(payload)));
  }
  CHECK(t[2]["role"] == "weight_shard");
  CHECK(t[2]["shape"] == nlohmann::ordered_json::array({3, 3}));
  CHECK(t[2]["dtype"] == "float32");
  CHECK(t[6]["dtype"] == "int64");
  CHECK(t[6]["shape"] == nlohmann::ordered_json::array({4}));
  // Keys in the documented order.
  std::vector<std::string> keys;
  for (auto it = t[0].begin(); it != t[0].end(); ++it) keys.push_back(it.key());
  CHECK(keys == std::vector<std::string>{"name", "file", "role", "rank", "shape", "dtype", "fnv1a64"});
  const std::string text = file_bytes(dir.path / "manifest.json");
  CHECK(text.find("\"format\"") < text.find("\"config\""));
  CHECK(text.find("\"config\"") < text.find("\"tensors\""));

  // Read back through the C++ loader: shard 1 is rows 3..5 of W.
  const auto man = atp::sim::load_manifest(dir.path);
  CHECK(man.tensors.size() == 8);
  CHECK(man.find("W.rank1").rank == 1);
  check_bitwise(atp::sim::load_tensor(dir.path, "W.rank1"), counting(6, 3).bottomRows(3));
  check_bitwise(atp::sim::load_tensor(dir.path, "y"), special_matrix());
  CHECK(atp::sim::load_tensor_i64(dir.path, "ids") == std::vector<std::int64_t>{3, 1, 4, 1});
  expect_error<std::invalid_argument>([&] { (void)atp::sim::load_tensor(dir.path, "nope"); }, {"nope", "W.rank0"});
  expect_error<std::invalid_argument>([&] { (void)atp::sim::load_tensor(dir.path, "ids"); }, {"int64"});

  // A flipped data byte is caught by the digest, a replaced file by the shape.
  std::string x = file_bytes(dir.path / "x.npy");
  x[130] = static_cast<char>(x[130] ^ 1);
  put_bytes(dir.path / "x.npy", x);
  expect_error<std::invalid_argument>([&] { (void)atp::sim::load_tensor(dir.path, "x"); }, {"x.npy", "fnv1a64"});
  atp::sim::write_npy(dir.path / "x.npy", counting(3, 4));
  expect_error<std::invalid_argument>([&] { (void)atp::sim::load_tensor(dir.path, "x"); }, {"x.npy", "shape"});
}

TEST_CASE("Dumper rejects bad names, duplicates, bad ranks, and a file in place of the directory") {
  TempDir dir;
  atp::sim::Dumper d(dir.path / "dump", nlohmann::json::object());
  const Matrix m = counting(2, 2);
  for (const std::string bad : {"", "a/b", "a b", "../x", ".hidden", "x\xc3\xbc", "tab\t"}) {
    INFO("name '" << bad << "'");
    CHECK_THROWS_AS(d.add(bad, m, "input"), std::invalid_argument);
  }
  expect_error<std::invalid_argument>([&] { d.add("a/b", m, "input"); }, {"'a/b'", "letters, digits"});
  expect_error<std::invalid_argument>([&] { d.add("ok", m, "in put"); }, {"role", "'in put'"});
  expect_error<std::invalid_argument>([&] { d.add("ok", m, "input", -2); }, {"rank -2"});
  d.add("ok-1.b_2", m, "input");
  expect_error<std::invalid_argument>([&] { d.add("ok-1.b_2", m, "output"); }, {"'ok-1.b_2'", "already"});
  d.add_per_rank("s", std::vector<Matrix>{m, m}, "weight_shard");
  expect_error<std::invalid_argument>([&] { d.add("s.rank1", m, "weight_shard", 1); }, {"already"});
  // Nothing was written for the refused names.
  CHECK(!fs::exists(dir.path / "dump" / ".hidden.npy"));
  d.finish();
  expect_error<std::invalid_argument>([&] { d.add("late", m, "output"); }, {"after finish"});
  CHECK(atp::sim::load_manifest(dir.path / "dump").tensors.size() == 3);

  put_bytes(dir.path / "plain_file", "x");
  expect_error<std::invalid_argument>([&] { atp::sim::Dumper e(dir.path / "plain_file", {}); },
                                      {"plain_file", "not a directory"});
}

TEST_CASE("Dumper output is deterministic; without finish() the manifest says incomplete and is refused") {
  TempDir a, b;
  write_sample_dump(a.path);
  {
    // No finish() (as when an exception unwinds a run): the destructor lists
    // what was written but marks the dump incomplete.
    atp::sim::Dumper d(b.path, {{"chapter", 2}, {"p", 2}, {"seed", 7}, {"strategy", "column"}, {"eps", 1e-5}});
    d.add("x", counting(4, 3), "input");
    d.add("W", counting(6, 3), "weight");
    d.add_per_rank("W", std::vector<Matrix>{counting(6, 3).topRows(3), counting(6, 3).bottomRows(3)}, "weight_shard");
    d.add_per_rank("y_partial", FakePerRank{{counting(4, 3), special_matrix()}}, "intermediate");
    d.add_i64("ids", {3, 1, 4, 1}, "input");
    d.add("y", special_matrix(), "output");
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(a.path)) files.push_back(e.path().filename().string());
  CHECK(files.size() == 9);
  for (const auto& name : files) {
    INFO("file " << name);
    REQUIRE(fs::exists(b.path / name));
    if (name != "manifest.json") CHECK(file_bytes(a.path / name) == file_bytes(b.path / name));
  }
  // Same entries, one flag apart, and the loader refuses the unfinished one.
  std::string unfinished = file_bytes(b.path / "manifest.json");
  const std::string no = "\"complete\": false";
  const auto flag = unfinished.find(no);
  REQUIRE(flag != std::string::npos);
  unfinished.replace(flag, no.size(), "\"complete\": true");
  CHECK(unfinished == file_bytes(a.path / "manifest.json"));
  expect_error<std::invalid_argument>([&] { (void)atp::sim::load_manifest(b.path); }, {"incomplete"});
  expect_error<std::invalid_argument>([&] { (void)atp::sim::load_tensor(b.path, "x"); }, {"incomplete"});
}

TEST_CASE("real NumPy reads write_npy files and writes the same bytes") {
  if (!python_numpy_available()) {
    MESSAGE("ATP-SKIP: /usr/bin/python3 with numpy not found; format not checked against NumPy");
    return;
  }
  TempDir dir;
  const Matrix m = special_matrix();
  atp::sim::write_npy(dir.path / "ours.npy", m);
  const fs::path script = dir.path / "check.py";
  put_bytes(script, "import sys, numpy as np\n"
                    "d = sys.argv[1]\n"
                    "a = np.load(d + '/ours.npy', allow_pickle=False)\n"
                    "assert a.dtype == np.float32 and a.shape == (2, 5), (a.dtype, a.shape)\n"
                    "want = " + hex_list(m) + "\n"
                    "got = a.view(np.uint32).ravel().tolist()\n"
                    "assert got == want, (got, want)\n"
                    "np.save(d + '/theirs.npy', np.array(want, dtype=np.uint32).view(np.float32).reshape(2, 5))\n"
                    "np.save(d + '/theirs1.npy', np.arange(7, dtype=np.float32))\n"
                    "np.save(d + '/theirs_ids.npy', np.array([3, -1, 2**40], dtype=np.int64))\n"
                    "np.save(d + '/empty.npy', np.zeros((0, 4), dtype=np.float32))\n"
                    "print('ok')\n");
  std::string out;
  const int rc = run_python(script, quoted(dir.path), out);
  INFO("python output:\n" << out);
  REQUIRE(rc == 0);
  CHECK(file_bytes(dir.path / "ours.npy") == file_bytes(dir.path / "theirs.npy"));
  const Matrix r = atp::sim::read_npy(dir.path / "theirs1.npy");
  REQUIRE(r.rows() == 1);
  REQUIRE(r.cols() == 7);
  CHECK(r(0, 6) == 6.0f);
  CHECK(atp::sim::read_npy_i64(dir.path / "theirs_ids.npy") == std::vector<std::int64_t>{3, -1, 1099511627776});
  atp::sim::write_npy(dir.path / "ours_empty.npy", Matrix(0, 4));
  CHECK(file_bytes(dir.path / "ours_empty.npy") == file_bytes(dir.path / "empty.npy"));
}

TEST_CASE("notebooks/atp_dump.py loads and verifies a dump") {
  if (!python_numpy_available()) {
    MESSAGE("ATP-SKIP: /usr/bin/python3 with numpy not found; atp_dump.py not exercised");
    return;
  }
  const fs::path notebooks = notebooks_dir();
  REQUIRE_MESSAGE(fs::exists(notebooks / "atp_dump.py"), "atp_dump.py not found in " << notebooks);
  TempDir dir;
  const fs::path dump = dir.path / "dump";
  write_sample_dump(dump);
  const fs::path script = dir.path / "check.py";
  put_bytes(script, "import sys, os\n"
                    "sys.path.insert(0, sys.argv[1])\n"
                    "import numpy as np, atp_dump\n"
                    "d = sys.argv[2]\n"
                    "config, t, entries = atp_dump.load(d)\n"
                    "assert config['strategy'] == 'column' and config['p'] == 2, config\n"
                    "assert [e['name'] for e in entries][:3] == ['x', 'W', 'W.rank0'], entries\n"
                    "assert t['W.rank1'].shape == (3, 3) and t['W.rank1'][0, 0] == 300.25, t['W.rank1']\n"
                    "assert np.array_equal(np.concatenate([t['W.rank0'], t['W.rank1']]), t['W'])\n"
                    "assert t['ids'].dtype == np.int64 and t['ids'].tolist() == [3, 1, 4, 1]\n"
                    "assert t['y'].view(np.uint32).ravel().tolist() == " + hex_list(special_matrix()) + "\n"
                    "# A flipped byte must be reported with the tensor's name.\n"
                    "p = os.path.join(d, 'W.npy')\n"
                    "b = bytearray(open(p, 'rb').read()); b[-1] ^= 1; open(p, 'wb').write(bytes(b))\n"
                    "try:\n"
                    "    atp_dump.load(d)\n"
                    "except ValueError as e:\n"
                    "    assert 'W' in str(e) and 'fnv1a64' in str(e), str(e)\n"
                    "else:\n"
                    "    raise SystemExit('corrupt W.npy was not detected')\n"
                    "print('ok')\n");
  std::string out;
  const int rc = run_python(script, quoted(notebooks) + " " + quoted(dump), out);
  INFO("python output:\n" << out);
  CHECK(rc == 0);
  // The __main__ summary runs on a clean dump.
  write_sample_dump(dir.path / "dump2");
  const std::string cmd = "/usr/bin/python3 " + quoted(notebooks / "atp_dump.py") + " " +
                          quoted(dir.path / "dump2") + " >" + quoted(dir.path / "summary.txt") + " 2>&1";
  CHECK(std::system(cmd.c_str()) == 0);
  const std::string summary = file_bytes(dir.path / "summary.txt");
  INFO("summary:\n" << summary);
  CHECK(summary.find("W.rank1") != std::string::npos);
  CHECK(summary.find("weight_shard") != std::string::npos);
}
