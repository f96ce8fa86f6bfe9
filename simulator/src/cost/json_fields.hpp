/// \file json_fields.hpp
/// \brief Internal: reading {value, source} figures out of the cost model's
///        JSON files, with errors that name the file, the field and the fix.
#pragma once

#include "atp/sim/cost/hardware.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace atp::cost::detail {

/// Where a field lives, for error messages: "h100-sxm.json: gpu.hbm_tbps".
struct FieldPath {
  std::string origin;  ///< the file
  std::string path;    ///< dotted path of the parent object ("" at the top)
  /// origin + ": " + path + "." + key.
  std::string at(const std::string& key) const;
  /// The path one level down.
  FieldPath child(const std::string& key) const;
};

/// The object j[key]. \throws std::invalid_argument naming the field if it is missing or not an object.
const nlohmann::json& object_at(const nlohmann::json& j, const std::string& key, const FieldPath& where);

/// j[key] as {"value": number, "source": text}; the number must be >= 0
/// (or > 0 when positive is true) and the source non-empty.
/// \throws std::invalid_argument naming the field and what is wrong.
Figure figure_at(const nlohmann::json& j, const std::string& key, const FieldPath& where, bool positive = true);

/// j[key] as {"value": text, "source": text} (the value returned in `value`, the source in the Figure).
/// \throws std::invalid_argument naming the field.
Figure text_figure_at(const nlohmann::json& j, const std::string& key, const FieldPath& where, std::string& value);

/// j[key] as a non-empty string. \throws std::invalid_argument naming the field.
std::string string_at(const nlohmann::json& j, const std::string& key, const FieldPath& where);

/// Parses JSON text. \throws std::invalid_argument "origin: not valid JSON: <parser message>".
nlohmann::json parse_json(const std::string& text, const std::string& origin);

/// Checks j["format"] == format and j["version"] == version.
/// \throws std::invalid_argument naming the origin, what was found and what is expected.
void check_format(const nlohmann::json& j, const std::string& format, int version, const std::string& origin);

}  // namespace atp::cost::detail
