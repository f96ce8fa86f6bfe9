/// \file json_read.cpp
/// \brief Strict JSON reading: depth and duplicate keys checked by a SAX pass
///        before the value is built; integer conversions that refuse what does not fit.
#include "atp/sim/json_read.hpp"

#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>
#include <vector>

namespace atp::sim {

namespace {

using json = nlohmann::json;

/// Validates structure only: depth and unique keys. nlohmann's SAX parser
/// keeps its own heap stack, so a 200,000-deep input costs no C++ stack here.
class StrictChecker : public nlohmann::json_sax<json> {
 public:
  explicit StrictChecker(int max_depth) : max_depth_(max_depth) {}

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t v, const string_t& text) override {
    if (std::isfinite(v)) return true;
    problem_ = "not valid JSON: the number " + text.substr(0, 40) + " overflows a double";
    return false;
  }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return open(); }
  bool key(string_t& k) override {
    if (!keys_.back().insert(k).second) {
      problem_ = "the key \"" + k.substr(0, 60) + "\" appears twice in one object";
      return false;
    }
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }  // an array's key set stays empty
  bool end_array() override { return close(); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    problem_ = "not valid JSON at byte " + std::to_string(position) + ": " + e.what();
    return false;
  }

  const std::string& problem() const { return problem_; }

 private:
  bool open() {
    if (static_cast<int>(keys_.size()) >= max_depth_) {
      problem_ = "nests deeper than " + std::to_string(max_depth_) + " levels of arrays and objects";
      return false;
    }
    keys_.emplace_back();
    return true;
  }
  bool close() {
    keys_.pop_back();
    return true;
  }

  int max_depth_;
  std::vector<std::set<std::string>> keys_;
  std::string problem_;
};

}  // namespace

json parse_json_strict(std::string_view text, const std::string& where, int max_depth) {
  // nlohmann skips a UTF-8 byte order mark; Python's json refuses one. Refuse it here too.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") throw std::invalid_argument(where + ": not valid JSON: starts with a byte order mark");
  StrictChecker checker(max_depth);
  const bool ok = json::sax_parse(text.begin(), text.end(), &checker, nlohmann::detail::input_format_t::json,
                                  /*strict=*/true);
  if (!ok) throw std::invalid_argument(where + ": " + (checker.problem().empty() ? "not valid JSON" : checker.problem()));
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {  // cannot happen after the SAX pass; kept as a clear error
    throw std::invalid_argument(where + ": not valid JSON: " + e.what());
  }
}

std::string read_small_file(const std::filesystem::path& path, std::int64_t max_bytes, const std::string& what) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    throw std::runtime_error(what + " '" + path.string() + "': cannot open for reading" +
                             (ec ? ": " + ec.message() : std::string(": no such file")));
  if (!std::filesystem::is_regular_file(status))
    throw std::invalid_argument(what + " '" + path.string() + "' is not a regular file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw std::runtime_error(what + " '" + path.string() + "': " + ec.message());
  if (size > static_cast<std::uintmax_t>(max_bytes))
    throw std::invalid_argument(what + " '" + path.string() + "' has " + std::to_string(size) +
                                " bytes; the limit is " + std::to_string(max_bytes));
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(what + " '" + path.string() + "': cannot open for reading");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  f.read(bytes.data(), static_cast<std::streamsize>(size));
  if (f.gcount() != static_cast<std::streamsize>(size))
    throw std::runtime_error(what + " '" + path.string() + "': read " + std::to_string(f.gcount()) + " of " +
                             std::to_string(size) + " bytes (the file changed while being read?)");
  return bytes;
}

std::string json_excerpt(const json& j, std::size_t max_chars) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > max_chars) s = s.substr(0, max_chars) + "...";
  return s;
}

std::int64_t json_to_int(const json& j, std::int64_t lo, std::int64_t hi, const std::string& what) {
  const auto refuse = [&] {
    throw std::invalid_argument(what + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                "], got " + json_excerpt(j));
  };
  // is_number_integer() is true for unsigned values too; booleans and floats are refused.
  if (!j.is_number_integer()) refuse();
  if (j.is_number_unsigned()) {
    const auto u = j.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) refuse();
  }
  const auto v = j.get<std::int64_t>();
  if (v < lo || v > hi) refuse();
  return v;
}

std::uint64_t json_to_u64(const json& j, const std::string& what) {
  if (j.is_number_unsigned()) return j.get<std::uint64_t>();
  if (j.is_number_integer() && j.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(j.get<std::int64_t>());
  throw std::invalid_argument(what + " must be an integer in [0, 18446744073709551615], got " + json_excerpt(j));
}

std::string json_to_string(const json& j, const std::string& what) {
  if (!j.is_string()) throw std::invalid_argument(what + " must be a string, got " + json_excerpt(j));
  return j.get<std::string>();
}

const json& json_field(const json& obj, const std::string& key, const std::string& what) {
  if (!obj.is_object()) throw std::invalid_argument(what + " must be an object, got " + json_excerpt(obj));
  const auto it = obj.find(key);
  if (it == obj.end()) throw std::invalid_argument(what + " has no \"" + key + "\"");
  return *it;
}

}  // namespace atp::sim
