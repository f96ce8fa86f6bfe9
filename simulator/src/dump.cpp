/// \file dump.cpp
/// \brief Dumper, manifest.json writer and reader (format described in dump.hpp).
#include "atp/sim/dump.hpp"

#include "atp/sim/file_write.hpp"
#include "atp/sim/json_read.hpp"
#include "atp/sim/npy.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <limits>
#include <set>
#include <stdexcept>
#include <system_error>

namespace atp::sim {

namespace {

constexpr const char* kFormat = "atp-dump";
constexpr int kVersion = 2;  // 2: the "complete" flag (version 1 could not mark an unfinished run)
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

[[noreturn]] void bad_manifest(const std::string& where, const std::string& what) {
  throw std::invalid_argument("dump manifest '" + where + "': " + what);
}

bool is_hex_digest(const std::string& s) {
  return s.size() == 16 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// One entry of "tensors", every field checked for type and range: the reader
// trusts nothing a manifest says (NUMERICS.md section 6 rests on its digests).
TensorEntry parse_entry(const nlohmann::json& t, std::size_t index) {
  const std::string what = "tensor entry " + std::to_string(index);
  if (!t.is_object()) throw std::invalid_argument(what + " must be an object, got " + json_excerpt(t));
  static const std::set<std::string> keys = {"name", "file", "role", "rank", "shape", "dtype", "fnv1a64"};
  for (const auto& item : t.items())
    if (keys.count(item.key()) == 0)
      throw std::invalid_argument(what + " has an unknown key \"" + item.key().substr(0, 40) +
                                  "\" (valid: name, file, role, rank, shape, dtype, fnv1a64)");
  TensorEntry e;
  e.name = json_to_string(json_field(t, "name", what), what + " \"name\"");
  check_name(e.name, "tensor name");
  const std::string named = "tensor '" + e.name + "'";
  e.file = json_to_string(json_field(t, "file", named), named + " \"file\"");
  // The file name is joined to the directory: it must be exactly what the writer makes of the name.
  if (e.file != e.name + ".npy")
    throw std::invalid_argument(named + " has \"file\" \"" + e.file.substr(0, 60) + "\"; expected \"" + e.name +
                                ".npy\"");
  e.role = json_to_string(json_field(t, "role", named), named + " \"role\"");
  check_name(e.role, "role");
  e.rank = static_cast<int>(json_to_int(json_field(t, "rank", named), -1, std::numeric_limits<int>::max(),
                                        named + " \"rank\""));
  e.dtype = json_to_string(json_field(t, "dtype", named), named + " \"dtype\"");
  if (e.dtype != "float32" && e.dtype != "int64")
    throw std::invalid_argument(named + " has dtype \"" + e.dtype.substr(0, 40) + "\" (valid: float32, int64)");
  const nlohmann::json& shape = json_field(t, "shape", named);
  const std::size_t want_rank = e.dtype == "float32" ? 2 : 1;
  if (!shape.is_array() || shape.size() != want_rank)
    throw std::invalid_argument(named + " (" + e.dtype + ") needs a shape of " + std::to_string(want_rank) +
                                " dimension" + (want_rank == 1 ? "" : "s") + ", got " + json_excerpt(shape));
  for (const auto& d : shape)
    e.shape.push_back(json_to_int(d, 0, std::numeric_limits<std::int64_t>::max(), named + " shape dimension"));
  e.fnv1a64 = json_to_string(json_field(t, "fnv1a64", named), named + " \"fnv1a64\"");
  if (!is_hex_digest(e.fnv1a64))
    throw std::invalid_argument(named + " has fnv1a64 \"" + e.fnv1a64.substr(0, 40) +
                                "\", expected 16 lowercase hex digits");
  return e;
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
  // At once, so that a manifest an earlier run left here no longer vouches for
  // files this run is about to replace: until finish(), the dump says "incomplete".
  write_manifest(false);
}

Dumper::~Dumper() {
  if (finished_) return;
  try {
    write_manifest(false);  // lists what was written, marked incomplete: both loaders refuse it
  } catch (const std::exception& e) {
    std::cerr << "atp::sim::Dumper: incomplete manifest not written: " << e.what() << '\n';
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
  write_manifest(true);
  finished_ = true;
}

void Dumper::write_manifest(bool complete) const {
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["complete"] = complete;
  // Parse the sorted-key text back so the caller's config keeps its
  // deterministic (alphabetical) order inside the ordered manifest.
  j["config"] = nlohmann::ordered_json::parse(config_.dump());
  j["tensors"] = nlohmann::ordered_json::array();
  for (const auto& e : entries_) j["tensors"].push_back(entry_json(e));
  // A fresh file renamed into place: never half a manifest, never through a link.
  write_file_replacing(dir_ / kManifest, {j.dump(2), "\n"}, "dump manifest");
}

Manifest parse_manifest(std::string_view text, const std::string& where) {
  const nlohmann::json j = parse_json_strict(text, "dump manifest '" + where + "'");
  if (!j.is_object() || !j.contains("format") || j["format"] != kFormat)
    bad_manifest(where, std::string("\"format\" is not \"") + kFormat + "\"");
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] != kVersion) {
    const bool old = j.contains("version") && j["version"].is_number_integer() && j["version"] == 1;
    bad_manifest(where, "unsupported \"version\" " + (j.contains("version") ? json_excerpt(j["version"]) : "(none)") +
                            " (valid: 2)" +
                            (old ? "; version 1 was written by an older build that could not mark an unfinished "
                                   "run: run the program again to rewrite the dump"
                                 : ""));
  }
  if (!j.contains("complete") || !j["complete"].is_boolean())
    bad_manifest(where, "\"complete\" must be true or false");
  if (!j["complete"].get<bool>())
    bad_manifest(where, "the dump is incomplete: the run that wrote it stopped before finishing (see its error "
                        "message); its tensors are not to be trusted. Run it again");
  if (!j.contains("config") || !j["config"].is_object()) bad_manifest(where, "\"config\" is not an object");
  if (!j.contains("tensors") || !j["tensors"].is_array()) bad_manifest(where, "\"tensors\" is not an array");
  Manifest m;
  m.version = kVersion;
  m.config = j["config"];
  std::set<std::string> names;
  try {
    std::size_t index = 0;
    for (const auto& t : j["tensors"]) {
      TensorEntry e = parse_entry(t, index++);
      // One name, one tensor: a second entry could carry a digest nobody checked.
      if (!names.insert(e.name).second) bad_manifest(where, "lists the tensor '" + e.name + "' twice");
      m.tensors.push_back(std::move(e));
    }
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    if (msg.rfind("dump manifest '", 0) == 0) throw;
    bad_manifest(where, msg);
  }
  return m;
}

Manifest load_manifest(const std::filesystem::path& dir) {
  const auto file = dir / kManifest;
  return parse_manifest(read_small_file(file, kMaxJsonFileBytes, "dump manifest"), file.string());
}

Matrix load_tensor(const std::filesystem::path& dir, const std::string& name) {
  const Manifest man = load_manifest(dir);
  const TensorEntry& e = checked_entry(man, name, "float32");
  const auto file = dir / e.file;
  NpyHeader header;
  Matrix m = read_npy(file, &header);
  // The file's own shape, not the (1, N) read_npy makes of a 1-D file: a
  // manifest entry [1, N] does not vouch for a file of shape (N,).
  check_against(e, file, header.shape, digest_of(m.data(), static_cast<std::size_t>(m.size())));
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
