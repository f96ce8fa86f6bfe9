/// \file test_cli.cpp
/// \brief The shared command line (atp/sim/cli.hpp): every strict conversion
///        accepts what it documents and refuses the rest with a message that
///        names the option and the text; options parse as documented on a real
///        CLI::App; --help shows every default.
///
/// The binaries themselves are run with bad values by test_bad_inputs.cpp.
#include "atp/sim/cli.hpp"

#include "test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace cli = atp::sim::cli;
using atp::test::contains;
using atp::test::error_of;

namespace {

// Parses `args` (without the program name) on `app`; returns the exit code, or -1 to go on.
int parse_args(CLI::App& app, std::vector<std::string> args) {
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return e.get_exit_code() == 0 ? 0 : 1;
  }
  return -1;
}

std::string parse_error(CLI::App& app, std::vector<std::string> args) {
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("cli: integers are decimal digits in range, nothing else") {
  CHECK(cli::parse_integer("4", "--tp", 1, 64) == 4);
  CHECK(cli::parse_integer("010", "--tp", 1, 64) == 10);  // decimal, never octal
  CHECK(cli::parse_integer("-3", "--x", -5, 5) == -3);
  for (const char* bad : {"", "0", "65", "-1", "+4", " 4", "4 ", "0x10", "4.0", "4e0", "1e23", "four", "4abc"}) {
    INFO("text '" << bad << "'");
    const std::string e = error_of([&] { (void)cli::parse_integer(bad, "--tp", 1, 64); });
    CHECK(contains(e, std::string("--tp '") + bad + "'"));
    CHECK(contains(e, "[1, 64]"));
  }
  CHECK(contains(error_of([] { (void)cli::parse_integer("9223372036854775808", "--n", 0,
                                                         std::numeric_limits<std::int64_t>::max()); }),
                 "'9223372036854775808'"));
}

TEST_CASE("cli: a seed is any integer in [0, 2^64 - 1] written in decimal digits") {
  CHECK(cli::parse_seed("0", "--seed") == 0);
  CHECK(cli::parse_seed("2026", "--seed") == 2026);
  CHECK(cli::parse_seed("18446744073709551615", "--seed") == std::numeric_limits<std::uint64_t>::max());
  // Each of these used to become 2^64 - 1 without a word.
  for (const char* bad : {"-1", "18446744073709551616", "1e23", "+1", "", " 1", "0x1", "1.0", "-0"}) {
    INFO("text '" << bad << "'");
    const std::string e = error_of([&] { (void)cli::parse_seed(bad, "--seed"); });
    CHECK(contains(e, std::string("--seed '") + bad + "'"));
    CHECK(contains(e, "[0, 18446744073709551615]"));
  }
}

TEST_CASE("cli: reals must be finite and in range; bits are exactly 1 or 0; choices are exact") {
  CHECK(cli::parse_real("10", "--percent", 0, 1000) == 10.0);
  CHECK(cli::parse_real("2.5e1", "--percent", 0, 1000) == 25.0);
  for (const char* bad : {"nan", "NaN", "inf", "-inf", "1e400", "-1", "1001", "", "0x10", "1,5", "+1"}) {
    INFO("text '" << bad << "'");
    CHECK(contains(error_of([&] { (void)cli::parse_real(bad, "--percent", 0, 1000); }),
                   std::string("--percent '") + bad + "'"));
  }
  CHECK(cli::parse_bit("1", "--causal"));
  CHECK_FALSE(cli::parse_bit("0", "--causal"));
  for (const char* bad : {"-1", "2", "yes", "true", "on", "", "01"}) {
    INFO("text '" << bad << "'");
    CHECK(contains(error_of([&] { (void)cli::parse_bit(bad, "--causal"); }), std::string("--causal '") + bad + "'"));
  }
  CHECK(cli::parse_choice("ring", "--order", {"rank-order", "ring"}) == "ring");
  const std::string e = error_of([] { (void)cli::parse_choice("Ring", "--order", {"rank-order", "ring"}); });
  CHECK(contains(e, "--order 'Ring'"));
  CHECK(contains(e, "rank-order, ring"));
}

TEST_CASE("cli: integer lists refuse every empty item; paths refuse empty and option-like values") {
  CHECK(cli::parse_integer_list("3,145,52", "--ids", 0, 1000) == std::vector<std::int64_t>{3, 145, 52});
  CHECK(cli::parse_integer_list(" 3, 145 ,52", "--ids", 0, 1000) == std::vector<std::int64_t>{3, 145, 52});
  const struct {
    const char* text;
    const char* fragment;
  } bad[] = {{"3,4,", "item 2 is empty"}, {",3", "item 0 is empty"}, {"3,,4", "item 1 is empty"},
             {"", "item 0 is empty"},   {"3,x", "item 1 'x'"},       {"3,1e3", "item 1 '1e3'"},
             {"3,-1", "item 1 '-1'"}};
  for (const auto& b : bad) {
    INFO("text '" << b.text << "'");
    const std::string e = error_of([&] { (void)cli::parse_integer_list(b.text, "--ids", 0, 1000); });
    CHECK(contains(e, std::string("--ids '") + b.text + "'"));
    CHECK(contains(e, b.fragment));
  }
  CHECK(cli::parse_path("out/ch02", "--dump") == "out/ch02");
  CHECK(cli::parse_path("./-x", "--dump") == "./-x");
  CHECK(contains(error_of([] { (void)cli::parse_path("", "--dump"); }), "--dump ''"));
  const std::string e = error_of([] { (void)cli::parse_path("--narrate", "--dump"); });
  CHECK(contains(e, "--dump '--narrate'"));
  CHECK(contains(e, "./--narrate"));
}

TEST_CASE("cli: options on a CLI::App parse strictly and keep their defaults when absent") {
  CLI::App app{"test"};
  int tp = 4;
  std::uint64_t seed = 2026;
  bool narrate = false, causal = false;
  double percent = 10.0;
  std::string dump, mlp = "gelu";
  std::vector<std::int64_t> ids;
  cli::add_tp(app, tp, 64, "ranks");
  cli::add_seed(app, seed);
  cli::add_narrate(app, narrate);
  cli::add_flag(app, "--causal", causal, "causal mask");
  cli::add_real(app, "--percent", percent, 0.0, 1000.0, "X");
  cli::add_dump(app, dump, "where");
  cli::add_choice(app, "--mlp", mlp, {"gelu", "swiglu"}, "kind");
  cli::add_integer_list(app, "--ids", ids, 0, 1000, "ids", "from the seed");

  SUBCASE("nothing given: the defaults") {
    CHECK(parse_args(app, {}) == -1);
    CHECK(tp == 4);
    CHECK(seed == 2026);
    CHECK_FALSE(narrate);
    CHECK(dump.empty());
  }
  SUBCASE("good values") {
    CHECK(parse_args(app, {"--tp", "3", "--seed", "18446744073709551615", "--narrate", "--causal", "1", "--dump",
                           "d", "--mlp", "swiglu", "--ids", "1,2", "--percent", "12.5"}) == -1);
    CHECK(tp == 3);
    CHECK(seed == std::numeric_limits<std::uint64_t>::max());
    CHECK(narrate);
    CHECK(causal);
    CHECK(dump == "d");
    CHECK(mlp == "swiglu");
    CHECK(ids == std::vector<std::int64_t>{1, 2});
    CHECK(percent == 12.5);
  }
  SUBCASE("a flag alone does not swallow the next option") {
    CHECK(parse_args(app, {"--causal", "--narrate"}) == -1);
    CHECK(causal);
    CHECK(narrate);
  }
  SUBCASE("--causal 0 turns it off") {
    causal = true;
    CHECK(parse_args(app, {"--causal", "0"}) == -1);
    CHECK_FALSE(causal);
  }
  SUBCASE("bad values are refused, naming them") {
    CHECK(contains(parse_error(app, {"--seed", "-1"}), "--seed '-1'"));
    CHECK(contains(parse_error(app, {"--causal", "yes"}), "--causal 'yes'"));
    CHECK(contains(parse_error(app, {"--narrate", "2"}), "--narrate '2'"));
    CHECK(contains(parse_error(app, {"--dump", "--narrate"}), "--dump '--narrate'"));
    CHECK(contains(parse_error(app, {"--dump", ""}), "--dump ''"));
    CHECK(contains(parse_error(app, {"--percent", "nan"}), "--percent 'nan'"));
    CHECK(contains(parse_error(app, {"--ids", "3,4,"}), "--ids '3,4,'"));
    CHECK(contains(parse_error(app, {"--mlp", "relu"}), "--mlp 'relu'"));
    CHECK(!parse_error(app, {"--tp", "3", "--tp", "4"}).empty());  // an option given twice
  }
}

TEST_CASE("cli: --help shows every option's default") {
  CLI::App app{"test"};
  int tp = 0, tokens = 4;
  std::uint64_t seed = 2026;
  bool narrate = false;
  double percent = 10.0;
  std::string dump, mlp = "gelu";
  cli::add_tp(app, tp, 64, "ranks", "the p atp-launch started");
  cli::add_integer(app, "--tokens", tokens, 1, 4096, "tokens");
  cli::add_seed(app, seed);
  cli::add_narrate(app, narrate);
  cli::add_real(app, "--percent", percent, 0.0, 1000.0, "X");
  cli::add_dump(app, dump, "where");
  cli::add_choice(app, "--mlp", mlp, {"gelu", "swiglu"}, "kind");
  const std::string help = app.help();
  INFO(help);
  for (const char* shown : {"INT in [1, 64], default the p atp-launch started", "INT in [1, 4096], default 4",
                            "UINT64, default 2026", "[1|0], default off", "NUMBER in [0, 1000], default 10",
                            "PATH, default no dump", "gelu|swiglu, default gelu"})
    CHECK(contains(help, shown));
}
