/// \file dump.cpp
/// \brief Dumper, manifest.json writer and reader (format described in dump.hpp).
#include "atp/sim/dump.hpp"

#include "atp/sim/npy.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <system_error>

namespace atp::sim {

namespace {

constexpr const char* kFormat = "atp-dump";
constexpr int kVersion = 1;
constexpr const char* kManifest = "manifest.json";

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// Names become file names, so the alphabet keeps them portable and free of
// path separators; a leading '.' would hide the file and allow "..".
void check_name(const std::string& name, const char* what) {
  if (name.empty()) throw std::invalid_argument(std::string("dump ") + what + " must not be empty");
  for (const char c : name)
    if (!name_char(c))
      throw std::invalid_argument(std::string("dump ") + what + " '" + name +
                                  "' has a character outside letters, digits, '_', '-', '.'");
  if (name.front() == '.')
    throw std::invalid_argument(std::string("dump ") + what + " '" + name + "' must not start with '.'");
}

template <class T>
std::string digest_of(const T* data, std::size_t count) {
  return fnv1a64_hex(fnv1a64(std::as_bytes(std::span<const T>(data, count))));
}

nlohmann::ordered_json entry_json(const TensorEntry& e) {
  nlohmann::ordered_json j;
  j["name"] = e.name;
  j["file"] = e.file;
  j["role"] = e.role;
  j["rank"] = e.rank;
  j["shape"] = e.shape;
  j["dtype"] = e.dtype;
  j["fnv1a64"] = e.fnv1a64;
  return j;
}

[[noreturn]] void bad_manifest(const std::filesystem::path& file, const std::string& what) {
  throw std::invalid_argument("dump manifest '" + file.string() + "': " + what);
}

const TensorEntry& checked_entry(const Manifest& m, const std::string& name, const std::string& dtype) {
  const TensorEntry& e = m.find(name);
  if (e.dtype != dtype)
    throw std::invalid_argument("dump tensor '" + name + "' has dtype " + e.dtype + ", not " + dtype);
  return e;
}

void check_against(const TensorEntry& e, const std::filesystem::path& file, const std::vector<std::int64_t>& shape,
                   const std::string& digest) {
  if (shape != e.shape)
    throw std::invalid_argument("dump tensor '" + e.name + "' in '" + file.string() + "' has shape " +
                                nlohmann::json(shape).dump() + " but the manifest says " +
                                nlohmann::json(e.shape).dump());
  if (digest != e.fnv1a64)
    throw std::invalid_argument("dump tensor '" + e.name + "' in '" + file.string() + "' has fnv1a64 " + digest +
                                " but the manifest says " + e.fnv1a64 + " (file changed or corrupt)");
}

}  // namespace

std::uint64_t fnv1a64(std::span<const std::byte> bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const std::byte b : bytes) {
    h ^= static_cast<std::uint64_t>(b);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string fnv1a64_hex(std::uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

const TensorEntry& Manifest::find(const std::string& name) const {
  for (const auto& e : tensors)
    if (e.name == name) return e;
  std::string names;
  for (const auto& e : tensors) names += (names.empty() ? "" : ", ") + e.name;
  throw std::invalid_argument("dump has no tensor '" + name + "' (it has: " + (names.empty() ? "none" : names) + ")");
}

Dumper::Dumper(std::filesystem::path dir, nlohmann::json config) : dir_(std::move(dir)), config_(std::move(config)) {
  std::error_code ec;
  if (std::filesystem::exists(dir_, ec) && !std::filesystem::is_directory(dir_, ec))
    throw std::invalid_argument("dump directory '" + dir_.string() + "' exists and is not a directory");
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw std::runtime_error("dump directory '" + dir_.string() + "' cannot be created: " + ec.message());
}

Dumper::~Dumper() {
  if (finished_) return;
  try {
    finish();
  } catch (const std::exception& e) {
    std::cerr << "atp::sim::Dumper: manifest not written: " << e.what() << '\n';
  }
}

std::string Dumper::rank_name(const std::string& name, int r) { return name + ".rank" + std::to_string(r); }

void Dumper::check_new_entry(const std::string& name, const std::string& role, int rank) const {
  if (finished_)
    throw std::invalid_argument("dump '" + dir_.string() + "': cannot add '" + name + "' after finish()");
  check_name(name, "tensor name");
  check_name(role, "role");
  if (name == "manifest")  // manifest.npy is harmless but confusing beside manifest.json
    throw std::invalid_argument("dump tensor name 'manifest' is reserved");
  if (rank < -1)
    throw std::invalid_argument("dump tensor '" + name + "': rank " + std::to_string(rank) +
                                " is invalid (valid: -1 for global, or a rank >= 0)");
  for (const auto& e : entries_)
    if (e.name == name) throw std::invalid_argument("dump tensor name '" + name + "' was already added");
}

void Dumper::add(const std::string& name, const Matrix& m, const std::string& role, int rank) {
  check_new_entry(name, role, rank);
  TensorEntry e{name, name + ".npy", role, rank, {m.rows(), m.cols()}, "float32",
                digest_of(m.data(), static_cast<std::size_t>(m.size()))};
  write_npy(dir_ / e.file, m);
  entries_.push_back(std::move(e));
}

void Dumper::add_i64(const std::string& name, const std::vector<std::int64_t>& v, const std::string& role,
                     int rank) {
  check_new_entry(name, role, rank);
  TensorEntry e{name, name + ".npy", role, rank, {static_cast<std::int64_t>(v.size())}, "int64",
                digest_of(v.data(), v.size())};
  write_npy_i64(dir_ / e.file, v);
  entries_.push_back(std::move(e));
}

void Dumper::finish() {
  if (finished_) throw std::invalid_argument("dump '" + dir_.string() + "': finish() called twice");
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  // Parse the sorted-key text back so the caller's config keeps its
  // deterministic (alphabetical) order inside the ordered manifest.
  j["config"] = nlohmann::ordered_json::parse(config_.dump());
  j["tensors"] = nlohmann::ordered_json::array();
  for (const auto& e : entries_) j["tensors"].push_back(entry_json(e));

  // Write beside and rename, so a crash never leaves half a manifest.
  const auto tmp = dir_ / (std::string(kManifest) + ".tmp");
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("dump manifest '" + tmp.string() + "': cannot open for writing");
    f << j.dump(2) << '\n';
    f.close();
    if (!f) throw std::runtime_error("dump manifest '" + tmp.string() + "': write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, dir_ / kManifest, ec);
  if (ec) throw std::runtime_error("dump manifest '" + (dir_ / kManifest).string() + "': " + ec.message());
  finished_ = true;
}

Manifest load_manifest(const std::filesystem::path& dir) {
  const auto file = dir / kManifest;
  std::ifstream f(file, std::ios::binary);
  if (!f) throw std::runtime_error("dump manifest '" + file.string() + "': cannot open for reading");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    bad_manifest(file, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("format") || j["format"] != kFormat)
    bad_manifest(file, std::string("\"format\" is not \"") + kFormat + "\"");
  if (!j.contains("version") || j["version"] != kVersion)
    bad_manifest(file, "unsupported \"version\" (valid: 1)");
  if (!j.contains("tensors") || !j["tensors"].is_array()) bad_manifest(file, "\"tensors\" is not an array");
  Manifest m;
  m.version = kVersion;
  m.config = j.value("config", nlohmann::json());
  try {
    for (const auto& t : j["tensors"]) {
      TensorEntry e;
      e.name = t.at("name").get<std::string>();
      e.file = t.at("file").get<std::string>();
      e.role = t.at("role").get<std::string>();
      e.rank = t.at("rank").get<int>();
      e.shape = t.at("shape").get<std::vector<std::int64_t>>();
      e.dtype = t.at("dtype").get<std::string>();
      e.fnv1a64 = t.at("fnv1a64").get<std::string>();
      // The file name is joined to dir, so hold it to the writer's alphabet.
      check_name(e.file, "file name");
      m.tensors.push_back(std::move(e));
    }
  } catch (const nlohmann::json::exception& e) {
    bad_manifest(file, std::string("malformed tensor entry: ") + e.what());
  }
  return m;
}

Matrix load_tensor(const std::filesystem::path& dir, const std::string& name) {
  const Manifest man = load_manifest(dir);
  const TensorEntry& e = checked_entry(man, name, "float32");
  const auto file = dir / e.file;
  Matrix m = read_npy(file);
  // read_npy turns a 1-D file into (1, N); the manifest always says [R, C].
  check_against(e, file, {m.rows(), m.cols()}, digest_of(m.data(), static_cast<std::size_t>(m.size())));
  return m;
}

std::vector<std::int64_t> load_tensor_i64(const std::filesystem::path& dir, const std::string& name) {
  const Manifest man = load_manifest(dir);
  const TensorEntry& e = checked_entry(man, name, "int64");
  const auto file = dir / e.file;
  std::vector<std::int64_t> v = read_npy_i64(file);
  check_against(e, file, {static_cast<std::int64_t>(v.size())}, digest_of(v.data(), v.size()));
  return v;
}

}  // namespace atp::sim
