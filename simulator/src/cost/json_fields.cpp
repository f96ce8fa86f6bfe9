/// \file json_fields.cpp
/// \brief Reading {value, source} figures with errors that name the field.
#include "json_fields.hpp"

#include <stdexcept>

namespace atp::cost::detail {

std::string FieldPath::at(const std::string& key) const {
  return origin + ": " + (path.empty() ? key : path + "." + key);
}

FieldPath FieldPath::child(const std::string& key) const { return {origin, path.empty() ? key : path + "." + key}; }

const nlohmann::json& object_at(const nlohmann::json& j, const std::string& key, const FieldPath& where) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_object())
    throw std::invalid_argument(where.at(key) + " is missing or not an object");
  return j.at(key);
}

Figure figure_at(const nlohmann::json& j, const std::string& key, const FieldPath& where, bool positive) {
  const nlohmann::json& f = object_at(j, key, where);
  if (!f.contains("value") || !f.at("value").is_number())
    throw std::invalid_argument(where.at(key) + " needs a numeric \"value\"");
  if (!f.contains("source") || !f.at("source").is_string() || f.at("source").get<std::string>().empty())
    throw std::invalid_argument(where.at(key) + " needs a non-empty \"source\" saying where the number comes from");
  Figure out{f.at("value").get<double>(), f.at("source").get<std::string>()};
  if (positive ? !(out.value > 0.0) : !(out.value >= 0.0))
    throw std::invalid_argument(where.at(key) + " is " + std::to_string(out.value) + "; it must be " +
                                (positive ? "> 0" : ">= 0"));
  return out;
}

Figure text_figure_at(const nlohmann::json& j, const std::string& key, const FieldPath& where, std::string& value) {
  const nlohmann::json& f = object_at(j, key, where);
  if (!f.contains("value") || !f.at("value").is_string())
    throw std::invalid_argument(where.at(key) + " needs a text \"value\"");
  if (!f.contains("source") || !f.at("source").is_string() || f.at("source").get<std::string>().empty())
    throw std::invalid_argument(where.at(key) + " needs a non-empty \"source\"");
  value = f.at("value").get<std::string>();
  return {0.0, f.at("source").get<std::string>()};
}

std::string string_at(const nlohmann::json& j, const std::string& key, const FieldPath& where) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_string() || j.at(key).get<std::string>().empty())
    throw std::invalid_argument(where.at(key) + " is missing or not a non-empty string");
  return j.at(key).get<std::string>();
}

nlohmann::json parse_json(const std::string& text, const std::string& origin) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::invalid_argument(origin + ": not valid JSON: " + e.what());
  }
}

void check_format(const nlohmann::json& j, const std::string& format, int version, const std::string& origin) {
  const std::string got = j.is_object() && j.contains("format") && j.at("format").is_string()
                              ? j.at("format").get<std::string>()
                              : std::string("(none)");
  if (got != format)
    throw std::invalid_argument(origin + ": format is '" + got + "'; expected '" + format + "'");
  if (!j.contains("version") || !j.at("version").is_number_integer() || j.at("version").get<int>() != version)
    throw std::invalid_argument(origin + ": version must be " + std::to_string(version));
}

}  // namespace atp::cost::detail
