/// \file safetensors.cpp
/// \brief safetensors: the strict header parser, the writer, and DecoderConfig as metadata.
#include "atp/sim/checkpoint/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>

namespace atp::sim {
namespace {

using nlohmann::json;

std::string str(long long v) { return std::to_string(v); }
std::string ustr(unsigned long long v) { return std::to_string(v); }

/// dtypes the safetensors format defines that this reader does not read.
const std::set<std::string>& unsupported_dtypes() {
  static const std::set<std::string> s = {"BOOL", "U8",  "I8",  "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16",
                                          "U16",  "F16", "I32", "U32",     "F64",     "I64",     "U64",
                                          "F4",   "F6_E2M3", "F6_E3M2", "C64"};
  return s;
}

std::uint64_t read_u64(const std::byte* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// A JSON value that must be a non-negative integer (not a float, not negative).
std::uint64_t non_negative(const json& v, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  throw std::invalid_argument(what + " must be a non-negative integer, got " + v.dump());
}

std::string float_text(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}

}  // namespace

bool looks_like_safetensors(std::span<const std::byte> bytes) {
  if (bytes.size() < 9) return false;
  const std::uint64_t n = read_u64(bytes.data());
  return n >= 2 && n <= bytes.size() - 8 && static_cast<char>(bytes[8]) == '{';
}

SafetensorsFile parse_safetensors_file(std::span<const std::byte> bytes, const std::string& origin) {
  const std::string who = origin + " (safetensors)";
  if (bytes.size() < 8)
    throw std::invalid_argument(who + ": " + ustr(bytes.size()) +
                                " bytes is too short; a safetensors file starts with an 8-byte header length");
  const std::uint64_t n = read_u64(bytes.data());
  if (n > kSafetensorsMaxHeaderBytes)
    throw std::invalid_argument(who + ": header too large: " + ustr(n) + " bytes (the limit is " +
                                ustr(kSafetensorsMaxHeaderBytes) + " bytes, as in the safetensors library)");
  if (n > bytes.size() - 8)
    throw std::invalid_argument(who + ": the header length " + ustr(n) + " runs past the end of the file (" +
                                ustr(bytes.size()) + " bytes, so at most " + ustr(bytes.size() - 8) + ")");
  const auto* text = reinterpret_cast<const char*>(bytes.data() + 8);
  json header;
  try {
    header = json::parse(text, text + n);
  } catch (const json::exception& e) {
    throw std::invalid_argument(who + ": the header is not valid JSON: " + e.what());
  }
  if (!header.is_object())
    throw std::invalid_argument(who + ": the header must be a JSON object, got " + std::string(header.type_name()));
  const std::uint64_t data_size = bytes.size() - 8 - n;
  SafetensorsFile file;
  struct Range {
    std::uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object())
        throw std::invalid_argument(who + ": __metadata__ must be an object of strings, got " +
                                    std::string(entry.type_name()));
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string())
          throw std::invalid_argument(who + ": __metadata__ value of '" + k + "' must be a string, got " + v.dump());
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string what = who + ": tensor '" + name + "'";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      throw std::invalid_argument(what + " must be an object with dtype, shape and data_offsets, got " +
                                  entry.dump());
    const json& dt = entry["dtype"];
    if (!dt.is_string()) throw std::invalid_argument(what + ": dtype must be a string, got " + dt.dump());
    const std::string dtype = dt.get<std::string>();
    TensorInfo t;
    t.name = name;
    if (dtype == "F32") {
      t.dtype = DType::F32;
    } else if (dtype == "BF16") {
      t.dtype = DType::BF16;
    } else if (unsupported_dtypes().count(dtype) != 0) {
      throw std::invalid_argument(what + " has dtype " + dtype + ", which this reader does not read (supported: F32, "
                                  "BF16)");
    } else {
      throw std::invalid_argument(what + " has an unknown dtype '" + dtype +
                                  "' (safetensors dtypes are BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, "
                                  "I64, U64 and F8 variants; this reader reads F32 and BF16)");
    }
    const json& shape = entry["shape"];
    if (!shape.is_array()) throw std::invalid_argument(what + ": shape must be a list, got " + shape.dump());
    std::uint64_t count = 1;
    for (const json& s : shape) {
      const std::uint64_t dim = non_negative(s, what + ": every shape entry");
      if (dim > static_cast<std::uint64_t>(INT64_MAX) || (dim != 0 && count > UINT64_MAX / dim))
        throw std::invalid_argument(what + ": shape " + shape.dump() + " has more elements than 64 bits count");
      count *= dim;
      t.shape.push_back(static_cast<std::int64_t>(dim));
    }
    const json& off = entry["data_offsets"];
    if (!off.is_array() || off.size() != 2)
      throw std::invalid_argument(what + ": data_offsets must be [begin, end], got " + off.dump());
    const std::uint64_t begin = non_negative(off[0], what + ": data_offsets[0]");
    const std::uint64_t end = non_negative(off[1], what + ": data_offsets[1]");
    if (begin > end || end > data_size)
      throw std::invalid_argument(what + ": data_offsets [" + ustr(begin) + ", " + ustr(end) +
                                  "] are out of range: the data buffer after the header holds " + ustr(data_size) +
                                  " bytes and begin must not exceed end");
    const std::uint64_t es = static_cast<std::uint64_t>(dtype_size(t.dtype));
    if (count > UINT64_MAX / es || count * es != end - begin)
      throw std::invalid_argument(what + ": shape " + shape.dump() + " of " + dtype + " needs " +
                                  (count > UINT64_MAX / es ? std::string("more than 2^64") : ustr(count * es)) +
                                  " bytes but data_offsets [" + ustr(begin) + ", " + ustr(end) + "] hold " +
                                  ustr(end - begin));
    t.offset = static_cast<std::int64_t>(8 + n + begin);
    t.bytes = static_cast<std::int64_t>(end - begin);
    ranges.push_back({begin, end, name});
    file.tensors.push_back(std::move(t));
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::uint64_t covered = 0;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].begin < covered)
      throw std::invalid_argument(who + ": tensors '" + ranges[i - 1].name + "' [" + ustr(ranges[i - 1].begin) +
                                  ", " + ustr(ranges[i - 1].end) + ") and '" + ranges[i].name + "' [" +
                                  ustr(ranges[i].begin) + ", " + ustr(ranges[i].end) + ") overlap");
    if (ranges[i].begin > covered)
      throw std::invalid_argument(who + ": " + ustr(ranges[i].begin - covered) + " bytes before tensor '" +
                                  ranges[i].name + "' (at " + ustr(ranges[i].begin) +
                                  ") belong to no tensor; the format requires the data buffer to be covered "
                                  "exactly, without gaps");
    covered = ranges[i].end;
  }
  if (covered != data_size)
    throw std::invalid_argument(who + ": the data buffer holds " + ustr(data_size) + " bytes but the tensors cover " +
                                ustr(covered) + "; the " + ustr(data_size - covered) +
                                " bytes at the end belong to no tensor");
  // Keep storage order, as the file has it.
  std::stable_sort(file.tensors.begin(), file.tensors.end(),
                   [](const TensorInfo& a, const TensorInfo& b) { return a.offset < b.offset; });
  return file;
}

CheckpointContents parse_safetensors(std::span<const std::byte> bytes, const std::string& origin) {
  SafetensorsFile file = parse_safetensors_file(bytes, origin);
  CheckpointContents c;
  c.format = "safetensors";
  c.config = config_from_metadata(file.metadata, origin);
  c.metadata = std::move(file.metadata);
  c.tensors = std::move(file.tensors);
  check_decoder_tensors(c.config, c.tensors, origin);
  return c;
}

std::vector<std::byte> write_safetensors(const std::vector<NamedTensor>& tensors,
                                         const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t at = 0;
  for (const NamedTensor& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      throw std::invalid_argument("write_safetensors: tensor name '" + t.name + "' is empty or reserved");
    if (header.contains(t.name))
      throw std::invalid_argument("write_safetensors: tensor '" + t.name + "' is given twice");
    std::int64_t count = 1;
    for (std::int64_t s : t.shape) count *= s;
    if (count != static_cast<std::int64_t>(t.values.size()))
      throw std::invalid_argument("write_safetensors: tensor '" + t.name + "' has " + str(t.values.size()) +
                                  " values but its shape describes " + str(count));
    const std::uint64_t n = static_cast<std::uint64_t>(count) * 4;
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {at, at + n}}};
    at += n;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::vector<std::byte> out(8 + text.size() + at);
  const std::uint64_t len = text.size();
  std::memcpy(out.data(), &len, sizeof len);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::size_t pos = 8 + text.size();
  for (const NamedTensor& t : tensors) {
    const std::size_t n = static_cast<std::size_t>(t.values.size()) * sizeof(float);
    if (n != 0) std::memcpy(out.data() + pos, t.values.data(), n);
    pos += n;
  }
  return out;
}

std::map<std::string, std::string> config_metadata(const DecoderConfig& c) {
  return {{"atp.arch", decoder_arch_name(c.arch)},
          {"atp.hidden", str(c.hidden)},
          {"atp.intermediate", str(c.intermediate)},
          {"atp.layers", str(c.layers)},
          {"atp.heads", str(c.heads)},
          {"atp.kv_heads", str(c.kv_heads)},
          {"atp.vocab", str(c.vocab)},
          {"atp.max_seq_len", str(c.max_seq_len)},
          {"atp.norm_eps", float_text(c.norm_eps)},
          {"atp.rope_theta", float_text(c.rope_theta)},
          {"atp.rope_style", rope_style_name(c.rope_style)},
          {"atp.gelu", gelu_form_name(c.gelu)},
          {"atp.tied_embeddings", c.tied_embeddings ? "true" : "false"},
          {"format", "pt"}};
}

DecoderConfig config_from_metadata(const std::map<std::string, std::string>& m, const std::string& origin) {
  const std::string who = origin + " (safetensors metadata)";
  auto get = [&](const std::string& key) -> const std::string& {
    const auto it = m.find(key);
    if (it == m.end())
      throw std::invalid_argument(who + ": key '" + key + "' is missing; the decoder's shape travels in atp.* "
                                  "metadata keys (atp-convert-checkpoint writes them)");
    return it->second;
  };
  auto integer = [&](const std::string& key) {
    const std::string& v = get(key);
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0 || x < INT32_MIN || x > INT32_MAX)
      throw std::invalid_argument(who + ": " + key + " = '" + v + "' is not a 32-bit integer");
    return static_cast<int>(x);
  };
  auto real = [&](const std::string& key) {
    const std::string& v = get(key);
    char* end = nullptr;
    const float x = std::strtof(v.c_str(), &end);
    if (v.empty() || *end != '\0')
      throw std::invalid_argument(who + ": " + key + " = '" + v + "' is not a number");
    return x;
  };
  DecoderConfig c;
  try {
    c.arch = parse_decoder_arch(get("atp.arch"));
    c.hidden = integer("atp.hidden");
    c.intermediate = integer("atp.intermediate");
    c.layers = integer("atp.layers");
    c.heads = integer("atp.heads");
    c.kv_heads = integer("atp.kv_heads");
    c.vocab = integer("atp.vocab");
    c.max_seq_len = integer("atp.max_seq_len");
    c.norm_eps = real("atp.norm_eps");
    c.rope_theta = real("atp.rope_theta");
    c.rope_style = parse_rope_style(get("atp.rope_style"));
    c.gelu = parse_gelu_form(get("atp.gelu"));
    const std::string& tied = get("atp.tied_embeddings");
    if (tied != "true" && tied != "false")
      throw std::invalid_argument("atp.tied_embeddings = '" + tied + "' must be true or false");
    c.tied_embeddings = tied == "true";
    c.validate();
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    if (msg.rfind(who, 0) == 0) throw;
    throw std::invalid_argument(who + ": " + msg);
  }
  return c;
}

std::vector<std::byte> write_decoder_safetensors(const Checkpoint& source) {
  std::vector<NamedTensor> tensors;
  for (const ExpectedTensor& e : decoder_tensor_layout(source.config()))
    tensors.push_back({e.name, e.shape, source.read(e.name)});
  return write_safetensors(tensors, config_metadata(source.config()));
}

}  // namespace atp::sim
