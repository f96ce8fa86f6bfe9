/// \file json_read.hpp
/// \brief Reading JSON that a file on disk claims to be: a size cap, a depth
///        limit, no duplicate keys, and every number checked for its type and
///        range before it becomes a C++ integer.
///
/// The manifest and golden readers (dump.cpp, golden.cpp) read files that a
/// person, an older build or an attacker may have written. nlohmann::json on
/// its own accepts what those readers must refuse: a key given twice (the last
/// one silently wins, so a reviewer and the program read different values),
/// nesting deep enough that copying or destroying the value overflows the
/// stack, `1e300` where an int is wanted (a conversion with undefined
/// behaviour), `2.9` as a dimension (truncated) or 4294967297 as a chapter
/// (wrapped to 1). parse_json_strict() checks depth and keys with nlohmann's
/// SAX interface, which keeps its own explicit stack, before anything is
/// built; the json_to_*() conversions refuse every number that does not fit.
///
/// notebooks/atp_dump.py applies the same rules in Python. Leaves out:
/// schemas (each reader checks its own fields) and JSON5/comments.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace atp::sim {

/// Deepest nesting of arrays and objects a strict parse accepts (a manifest needs 4).
inline constexpr int kMaxJsonDepth = 64;

/// Largest JSON file read_small_file() reads for a manifest or golden file.
inline constexpr std::int64_t kMaxJsonFileBytes = std::int64_t{64} << 20;

/// Parses `text` as one JSON value, refusing nesting deeper than `max_depth`
/// and an object that names a key twice.
/// \throws std::invalid_argument "<where>: ..." naming the problem and, for
///         invalid JSON, the byte where it was found.
nlohmann::json parse_json_strict(std::string_view text, const std::string& where, int max_depth = kMaxJsonDepth);

/// The bytes of the regular file `path`, at most `max_bytes` of them, read
/// after checking its size (so /dev/zero or a huge sparse file is refused,
/// not read). `what` names the file in messages ("dump manifest").
/// \throws std::runtime_error if it cannot be opened or read;
///         std::invalid_argument if it is not a regular file or is too big.
std::string read_small_file(const std::filesystem::path& path, std::int64_t max_bytes, const std::string& what);

/// `j` as an integer in [lo, hi].
/// \throws std::invalid_argument "<what> must be an integer in [lo, hi], got <j>"
///         for a float (even 2.0), a boolean, a string or a value out of range.
std::int64_t json_to_int(const nlohmann::json& j, std::int64_t lo, std::int64_t hi, const std::string& what);

/// `j` as an unsigned 64-bit integer (a seed): any integer in [0, 2^64 - 1].
/// \throws std::invalid_argument as json_to_int().
std::uint64_t json_to_u64(const nlohmann::json& j, const std::string& what);

/// `j` as a string. \throws std::invalid_argument "<what> must be a string, got <j>".
std::string json_to_string(const nlohmann::json& j, const std::string& what);

/// `obj[key]`, which must exist. \throws std::invalid_argument "<what> has no \"key\"".
const nlohmann::json& json_field(const nlohmann::json& obj, const std::string& key, const std::string& what);

/// At most `max_chars` of `j.dump()`, for messages about a bad value that may be huge.
std::string json_excerpt(const nlohmann::json& j, std::size_t max_chars = 80);

}  // namespace atp::sim
