/// \file golden.cpp
/// \brief Golden digest files: reading, writing, checking (see golden.hpp).
#include "atp/sim/golden.hpp"

#include "atp/sim/chapter_registry.hpp"

#include "atp/sim/dump.hpp"
#include "atp/sim/file_write.hpp"
#include "atp/sim/json_read.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace atp::sim {

namespace {

using json = nlohmann::json;

bool is_hex_digest(const std::string& s) {
  return s.size() == 16 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

json digest_json(const TensorDigest& d) { return json{{"shape", d.shape}, {"fnv1a64", d.fnv1a64}}; }

TensorDigest digest_from_json(const json& j, const std::string& name, const std::string& where) {
  if (!j.is_object() || !j.contains("shape") || !j.contains("fnv1a64") || !j["shape"].is_array() ||
      !j["fnv1a64"].is_string())
    throw std::invalid_argument(where + ": tensor '" + name.substr(0, 60) +
                                "' needs {\"shape\": [...], \"fnv1a64\": \"<16 hex digits>\"}, got " + json_excerpt(j));
  TensorDigest d;
  for (const auto& v : j["shape"])
    d.shape.push_back(json_to_int(v, 0, std::numeric_limits<std::int64_t>::max(),
                                  where + ": tensor '" + name.substr(0, 60) + "' shape dimension"));
  d.fnv1a64 = j["fnv1a64"].get<std::string>();
  if (!is_hex_digest(d.fnv1a64))
    throw std::invalid_argument(where + ": tensor '" + name + "' has fnv1a64 \"" + d.fnv1a64 +
                                "\", expected 16 lowercase hex digits");
  return d;
}

}  // namespace

json golden_config(const json& config) {
  if (!config.is_object() || !config.contains("chapter"))
    throw std::invalid_argument("golden_config: a run's config must be an object with an integer \"chapter\", got " +
                                json_excerpt(config));
  // Every value is checked, not converted: a chapter of 4294967297 must not
  // read as chapter 1, nor a p of 2.9 as 2 (chapter_args() turns them into a command line).
  const auto chapter = static_cast<int>(json_to_int(config["chapter"], 0, 99, "golden_config: \"chapter\""));
  // The identity of a configuration: chapter, p, seed and the chapter's own
  // options (chapter_registry.cpp); descriptive text in a dump's config is not part of it.
  const ChapterSpec& spec = chapter_spec(chapter);
  json out = json::object();
  for (const auto& [key, value] : config.items()) {
    const std::string what = "golden_config: chapter " + std::to_string(chapter) + " \"" + key + "\"";
    if (key == "chapter") {
      out[key] = chapter;
    } else if (key == "p") {
      out[key] = json_to_int(value, 1, 4096, what);
    } else if (key == "seed") {
      out[key] = json_to_u64(value, what);
    } else if (spec.options.contains(key)) {
      // An option has the type of its canonical value (chapter_registry.cpp).
      if (spec.options[key].is_number_integer())
        out[key] = json_to_int(value, 0, std::numeric_limits<std::int64_t>::max(), what);
      else
        out[key] = json_to_string(value, what);
    }
  }
  return out;
}

std::string describe_config(const json& config) {
  std::string s;
  const json c = config.is_object() ? config : json::object();
  // chapter first, then the rest in key order: how a reader scans it.
  if (c.contains("chapter")) s = "chapter=" + c["chapter"].dump();
  for (const auto& [key, value] : c.items())
    if (key != "chapter") s += (s.empty() ? "" : " ") + key + "=" + value.dump();
  return s.empty() ? "{}" : s;
}

TensorDigest digest_matrix(const Matrix& m) {
  const auto* bytes = reinterpret_cast<const std::byte*>(m.data());
  return {{m.rows(), m.cols()},
          fnv1a64_hex(fnv1a64({bytes, static_cast<std::size_t>(m.size()) * sizeof(float)}))};
}

DigestSet digest_matrices(const std::map<std::string, Matrix>& tensors) {
  DigestSet out;
  for (const auto& [name, m] : tensors) out[name] = digest_matrix(m);
  return out;
}

DigestSet digest_dump(const std::filesystem::path& dir) {
  const Manifest manifest = load_manifest(dir);  // refuses an incomplete dump and duplicate names
  DigestSet out;
  for (const auto& e : manifest.tensors) {
    // The digest recorded is computed here from the bytes just read (and
    // load_tensor has also held them against the manifest), never copied from
    // the manifest: a golden check must vouch for data, not for an index.
    if (e.dtype == "int64") {
      const std::vector<std::int64_t> v = load_tensor_i64(dir, e.name);
      out[e.name] = TensorDigest{{static_cast<std::int64_t>(v.size())},
                                 fnv1a64_hex(fnv1a64(std::as_bytes(std::span<const std::int64_t>(v))))};
    } else {
      out[e.name] = digest_matrix(load_tensor(dir, e.name));
    }
  }
  return out;
}

std::filesystem::path golden_path(const std::filesystem::path& golden_dir, int chapter) {
  if (chapter < 0 || chapter > 99)
    throw std::invalid_argument("golden_path: chapter " + std::to_string(chapter) + " is outside [0, 99]");
  char name[16];
  std::snprintf(name, sizeof name, "ch%02d.json", chapter);
  return golden_dir / name;
}

const GoldenEntry* GoldenFile::find(const json& config) const {
  const json key = golden_config(config);
  for (const auto& e : entries)
    if (e.config == key) return &e;
  return nullptr;
}

void GoldenFile::upsert(GoldenEntry entry) {
  entry.config = golden_config(entry.config);
  for (auto& e : entries)
    if (e.config == entry.config) {
      e = std::move(entry);
      return;
    }
  entries.push_back(std::move(entry));
}

GoldenFile parse_golden(std::string_view text, const std::string& where_name) {
  const std::string where = "golden file '" + where_name + "'";
  const json j = parse_json_strict(text, where);
  if (!j.is_object() || !j.contains("format") || j["format"] != "atp-golden")
    throw std::invalid_argument(where + ": \"format\" must be \"atp-golden\"");
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] != 1)
    throw std::invalid_argument(where + ": \"version\" must be 1, got " +
                                (j.contains("version") ? json_excerpt(j["version"]) : std::string("nothing")));
  if (!j.contains("configs") || !j["configs"].is_array())
    throw std::invalid_argument(where + ": \"configs\" must be an array");
  GoldenFile g;
  if (j.contains("written_by")) {
    if (!j["written_by"].is_object()) throw std::invalid_argument(where + ": \"written_by\" must be an object");
    g.written_by = j["written_by"];
  } else {
    g.written_by = json::object();
  }
  for (const auto& c : j["configs"]) {
    if (!c.is_object() || !c.contains("config") || !c.contains("tensors") || !c["tensors"].is_object())
      throw std::invalid_argument(where + ": every entry of \"configs\" needs \"config\" and \"tensors\" objects");
    GoldenEntry e;
    try {
      e.config = golden_config(c["config"]);
    } catch (const std::invalid_argument& err) {
      throw std::invalid_argument(where + ": " + err.what());
    }
    if (g.find(e.config) != nullptr)
      throw std::invalid_argument(where + ": two entries for " + describe_config(e.config));
    for (const auto& [name, d] : c["tensors"].items()) e.tensors[name] = digest_from_json(d, name, where);
    g.entries.push_back(std::move(e));
  }
  return g;
}

GoldenFile read_golden(const std::filesystem::path& path) {
  return parse_golden(read_small_file(path, kMaxJsonFileBytes, "golden file"), path.string());
}

void write_golden(const std::filesystem::path& path, const GoldenFile& golden) {
  std::vector<const GoldenEntry*> sorted;
  for (const auto& e : golden.entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const GoldenEntry* a, const GoldenEntry* b) {
    return describe_config(a->config) < describe_config(b->config);
  });
  nlohmann::ordered_json out;
  out["format"] = "atp-golden";
  out["version"] = 1;
  out["written_by"] = golden.written_by.is_null() ? json::object() : golden.written_by;
  out["configs"] = nlohmann::ordered_json::array();
  for (const GoldenEntry* e : sorted) {
    json tensors = json::object();
    for (const auto& [name, d] : e->tensors) tensors[name] = digest_json(d);
    out["configs"].push_back({{"config", golden_config(e->config)}, {"tensors", tensors}});
  }
  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) throw std::runtime_error("write_golden: cannot create '" + path.parent_path().string() + "': " + ec.message());
  }
  // Every write and the close are checked, and the old file stays until the new one is whole.
  write_file_replacing(path, {out.dump(2), "\n"}, "golden file");
}

std::string GoldenCheck::report(const json& config) const {
  std::ostringstream s;
  s << "golden check of " << describe_config(config) << ": " << checked << " tensors, ";
  if (ok()) {
    s << "all bitwise equal to the GPU run";
  } else {
    s << problems.size() << " problem" << (problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) s << "\n  " << p;
  }
  return s.str();
}

GoldenCheck check_against_golden(const GoldenEntry& expected, const DigestSet& got) {
  GoldenCheck check;
  for (const auto& [name, want] : expected.tensors) {
    ++check.checked;
    const auto it = got.find(name);
    if (it == got.end()) {
      check.problems.push_back("tensor '" + name + "': in the golden file (GPU, fnv1a64 " + want.fnv1a64 +
                               ") but the simulator produced no tensor of that name");
    } else if (it->second.shape != want.shape) {
      check.problems.push_back("tensor '" + name + "': shape " + shape_text(want.shape) + " on the GPU, " +
                               shape_text(it->second.shape) + " in the simulator");
    } else if (it->second.fnv1a64 != want.fnv1a64) {
      check.problems.push_back("tensor '" + name + "': bits differ, expected fnv1a64 " + want.fnv1a64 +
                               " (GPU), got " + it->second.fnv1a64 + " (simulator)");
    }
  }
  return check;
}

std::vector<json> canonical_configs(int chapter) {
  const ChapterSpec& spec = chapter_spec(chapter);
  std::vector<json> out;
  for (int p : spec.canonical_p) {
    json c = spec.options;
    c["chapter"] = chapter;
    c["p"] = p;
    c["seed"] = 2026;
    out.push_back(c);
  }
  return out;
}

std::vector<std::string> chapter_args(const json& config) {
  const json c = golden_config(config);
  std::vector<std::string> args;
  for (const auto& [key, value] : c.items()) {
    if (key == "chapter") continue;
    std::string option = key == "p" ? "tp" : key;
    for (char& ch : option) ch = ch == '_' ? '-' : ch;
    args.push_back("--" + option);
    args.push_back(value.is_string() ? value.get<std::string>() : value.dump());
  }
  return args;
}

std::vector<json> missing_canonical_configs(const GoldenFile& golden, int chapter) {
  std::vector<json> missing;
  for (const auto& c : canonical_configs(chapter))
    if (golden.find(c) == nullptr) missing.push_back(c);
  return missing;
}

}  // namespace atp::sim
