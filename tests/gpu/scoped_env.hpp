/// \file scoped_env.hpp
/// \brief ScopedEnv: environment variables set (or unset) for one test case and
///        restored to their earlier values afterwards; and env_value(), a
///        lookup in a planned list of variables. Leaves out: thread safety
///        (doctest runs cases one at a time).
#pragma once

#include "atp/cuda/launch.hpp"

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace atp::test {

/// Sets or unsets variables of this process until it goes out of scope.
class ScopedEnv {
 public:
  ScopedEnv() = default;
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

  /// name=value until the end of the scope.
  void set(const std::string& name, const std::string& value) {
    remember(name);
    ::setenv(name.c_str(), value.c_str(), 1);
  }

  /// name unset until the end of the scope.
  void unset(const std::string& name) {
    remember(name);
    ::unsetenv(name.c_str());
  }

  /// Restores every variable touched, last first.
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second)
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else
        ::unsetenv(it->first.c_str());
    }
  }

 private:
  void remember(const std::string& name) {
    const char* old = std::getenv(name.c_str());
    saved_.emplace_back(name, old != nullptr ? std::optional<std::string>(old) : std::nullopt);
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

/// The value of `name` in a planned environment, or "<unset>".
inline std::string env_value(const std::vector<atp::cuda::EnvVar>& env, const std::string& name) {
  for (const auto& v : env)
    if (v.name == name) return v.value;
  return "<unset>";
}

}  // namespace atp::test
