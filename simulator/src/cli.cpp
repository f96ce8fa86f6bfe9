/// \file cli.cpp
/// \brief The shared command line (cli.hpp): strict conversions, options that
///        show their defaults, parsing, and the standard-output check at exit.
#include "atp/sim/cli.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <stdexcept>

namespace atp::sim::cli {

namespace {

// Values are quoted in messages; a very long one is cut.
std::string shown(std::string_view text) {
  std::string s(text.substr(0, 60));
  if (text.size() > 60) s += "...";
  return "'" + s + "'";
}

[[noreturn]] void refuse(std::string_view option, std::string_view text, const std::string& valid) {
  throw std::invalid_argument(std::string(option) + " " + shown(text) + " is not valid: " + valid);
}

std::string range_text(std::int64_t lo, std::int64_t hi) {
  return "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

std::string real_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Runs a strict conversion inside a CLI11 callback: its error becomes CLI11's,
// so the message is printed with "Run with --help for more information."
template <class F>
auto as_cli_error(F&& convert) {
  try {
    return convert();
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError(e.what());
  }
}

// A single-valued option whose text goes through `store` (a strict conversion).
template <class Store>
CLI::Option* add_converted(CLI::App& app, const std::string& name, const std::string& help, const std::string& shape,
                           const std::string& default_text, Store store) {
  CLI::Option* opt = app.add_option_function<std::string>(
      name, [store, name](const std::string& text) { as_cli_error([&] { store(text); return 0; }); }, help);
  opt->type_name(shape);
  opt->option_text(shape + ", default " + default_text);
  return opt;
}

void check_stdout_now() {
  std::cout.flush();
  const bool stream_failed = std::cout.bad() || std::cout.fail();
  errno = 0;
  const bool flush_failed = std::fflush(stdout) != 0;
  const int err = errno;
  if (stream_failed || flush_failed || std::ferror(stdout) != 0) {
    std::fprintf(stderr, "error: writing standard output failed: %s\n",
                 err != 0 ? std::strerror(err) : "a write error (disk full, or stdout closed?)");
    std::fflush(stderr);
    // Not exit(): this runs inside exit already. The status is what a caller checks.
    std::_Exit(1);
  }
}

}  // namespace

std::int64_t parse_integer(std::string_view text, std::string_view option, std::int64_t lo, std::int64_t hi) {
  const std::string valid = "expected a decimal integer in " + range_text(lo, hi);
  if (text.empty()) refuse(option, text, valid);
  // from_chars takes only digits with an optional '-': no '+', spaces, "0x" or exponent.
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 10);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) refuse(option, text, valid);
  return v;
}

std::uint64_t parse_seed(std::string_view text, std::string_view option) {
  const std::string valid = "expected a decimal integer in [0, 18446744073709551615] (no sign, no exponent)";
  if (text.empty() || text.front() < '0' || text.front() > '9') refuse(option, text, valid);
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 10);
  if (ec != std::errc() || end != text.data() + text.size()) refuse(option, text, valid);
  return v;
}

double parse_real(std::string_view text, std::string_view option, double lo, double hi) {
  const std::string valid = "expected a finite decimal number in [" + real_text(lo) + ", " + real_text(hi) + "]";
  if (text.empty()) refuse(option, text, valid);
  double v = 0.0;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), v, std::chars_format::general);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v) || v < lo || v > hi)
    refuse(option, text, valid);
  return v;
}

bool parse_bit(std::string_view text, std::string_view option) {
  if (text == "1") return true;
  if (text == "0") return false;
  refuse(option, text, "expected 1 (on) or 0 (off), or the option alone for on");
}

std::string parse_choice(std::string_view text, std::string_view option, const std::vector<std::string>& choices) {
  std::string valid;
  for (const auto& c : choices) {
    if (text == c) return c;
    valid += (valid.empty() ? "" : ", ") + c;
  }
  refuse(option, text, "expected one of " + valid);
}

std::vector<std::int64_t> parse_integer_list(std::string_view text, std::string_view option, std::int64_t lo,
                                             std::int64_t hi) {
  const std::string valid = "expected integers in " + range_text(lo, hi) + " separated by commas, e.g. 3,145,52";
  std::vector<std::int64_t> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty())
      refuse(option, text, "item " + std::to_string(out.size()) + " is empty; " + valid);
    try {
      out.push_back(parse_integer(item, option, lo, hi));
    } catch (const std::invalid_argument&) {
      refuse(option, text, "item " + std::to_string(out.size()) + " " + shown(item) + " is not an integer in " +
                               range_text(lo, hi) + "; " + valid);
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string parse_path(std::string_view text, std::string_view option) {
  if (text.empty()) refuse(option, text, "expected a path, got an empty one");
  if (text.front() == '-')
    refuse(option, text,
           "a path may not start with '-' (it looks like an option: was the value forgotten?); write ./" +
               std::string(text.substr(0, 60)) + " for such a name");
  return std::string(text);
}

CLI::Option* add_integer(CLI::App& app, const std::string& name, int& value, int lo, int hi, const std::string& help,
                         const std::string& default_text) {
  return add_converted(app, name, help, "INT in " + range_text(lo, hi),
                       default_text.empty() ? std::to_string(value) : default_text,
                       [&value, name, lo, hi](const std::string& t) {
                         value = static_cast<int>(parse_integer(t, name, lo, hi));
                       });
}

CLI::Option* add_integer(CLI::App& app, const std::string& name, std::int64_t& value, std::int64_t lo,
                         std::int64_t hi, const std::string& help, const std::string& default_text) {
  return add_converted(app, name, help, "INT in " + range_text(lo, hi),
                       default_text.empty() ? std::to_string(value) : default_text,
                       [&value, name, lo, hi](const std::string& t) { value = parse_integer(t, name, lo, hi); });
}

CLI::Option* add_real(CLI::App& app, const std::string& name, double& value, double lo, double hi,
                      const std::string& help, const std::string& default_text) {
  return add_converted(app, name, help, "NUMBER in [" + real_text(lo) + ", " + real_text(hi) + "]",
                       default_text.empty() ? real_text(value) : default_text,
                       [&value, name, lo, hi](const std::string& t) { value = parse_real(t, name, lo, hi); });
}

CLI::Option* add_flag(CLI::App& app, const std::string& name, bool& value, const std::string& help) {
  const std::string shape = "[1|0]";
  CLI::Option* opt = add_converted(app, name, help, shape, value ? "on" : "off",
                                   [&value, name](const std::string& t) { value = parse_bit(t, name); });
  // Alone, the option means 1; it never takes a following "--other" as its value.
  opt->expected(0, 1)->default_str("1");
  return opt;
}

CLI::Option* add_choice(CLI::App& app, const std::string& name, std::string& value,
                        const std::vector<std::string>& choices, const std::string& help,
                        const std::string& default_text) {
  std::string shape;
  for (const auto& c : choices) shape += (shape.empty() ? "" : "|") + c;
  return add_converted(app, name, help, shape, default_text.empty() ? value : default_text,
                       [&value, name, choices](const std::string& t) { value = parse_choice(t, name, choices); });
}

CLI::Option* add_integer_list(CLI::App& app, const std::string& name, std::vector<std::int64_t>& value,
                              std::int64_t lo, std::int64_t hi, const std::string& help,
                              const std::string& default_text) {
  return add_converted(app, name, help, "INT,INT,...", default_text,
                       [&value, name, lo, hi](const std::string& t) { value = parse_integer_list(t, name, lo, hi); });
}

CLI::Option* add_path(CLI::App& app, const std::string& name, std::string& value, const std::string& help,
                      const std::string& default_text) {
  return add_converted(app, name, help, "PATH", default_text,
                       [&value, name](const std::string& t) { value = parse_path(t, name); });
}

CLI::Option* add_texts(CLI::App& app, const std::string& name, std::vector<std::string>& values,
                       const std::string& help, const std::string& default_text) {
  CLI::Option* opt = app.add_option(name, values, help);
  opt->check(CLI::Validator(
      [name](std::string& text) -> std::string {
        if (text.empty()) return name + " '' is not valid: the value is empty";
        if (text.front() == '-') return name + " '" + text + "' is not valid: it looks like an option";
        return "";
      },
      "TEXT"));
  opt->option_text("TEXT (may be repeated), default " + default_text);
  return opt;
}

CLI::Option* add_tp(CLI::App& app, int& tp, int max_tp, const std::string& help, const std::string& default_text) {
  return add_integer(app, "--tp", tp, 1, max_tp, help, default_text);
}

CLI::Option* add_seed(CLI::App& app, std::uint64_t& seed) {
  return add_converted(app, "--seed", "seed of the counter-based generator", "UINT64", std::to_string(seed),
                       [&seed](const std::string& t) { seed = parse_seed(t, "--seed"); });
}

CLI::Option* add_narrate(CLI::App& app, bool& narrate, const std::string& help) {
  return add_flag(app, "--narrate", narrate, help);
}

CLI::Option* add_dump(CLI::App& app, std::string& dir, const std::string& help) {
  return add_path(app, "--dump", dir, help, "no dump");
}

std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  check_stdout_at_exit();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::invalid_argument& e) {  // a conversion outside a callback, reported the same way
    std::fprintf(stderr, "%s\nRun with --help for more information.\n", e.what());
    return 2;
  }
  return std::nullopt;
}

void check_stdout_at_exit() {
  static const bool registered = [] { return std::atexit(check_stdout_now) == 0; }();
  (void)registered;
}

}  // namespace atp::sim::cli
