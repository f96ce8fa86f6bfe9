/// \file cli.hpp
/// \brief The command line every chapter binary and GPU worker shares: strict
///        values, every default shown in --help, standard output checked at exit.
///
/// CLI11 on its own converts too kindly for a book that promises "bad input
/// gets a clear error": `--seed -1`, `--seed 18446744073709551616` and
/// `--seed 1e23` all became 2^64-1, `--tp 010` was octal 8, `--causal yes` or
/// `2` meant on and `-1` off, `--percent nan` ran, `--dump --narrate` wrote
/// into a folder called `--narrate`, `--dump ''` wrote nothing, and
/// `--ids 3,4,` dropped the empty item. Every option here is parsed by one of
/// the strict conversions below, which refuse with a message naming the
/// option, the text given and what would be valid:
///
/// | helper              | accepts                                                        |
/// |---------------------|----------------------------------------------------------------|
/// | add_integer()       | decimal digits (a '-' only if the range allows), in [lo, hi]   |
/// | add_seed()          | decimal digits, in [0, 2^64 - 1]: no sign, no exponent         |
/// | add_real()          | a finite decimal number in [lo, hi] (no nan, inf, hex)          |
/// | add_flag()          | `--x` alone (on), or `--x 1` / `--x 0`: nothing else            |
/// | add_choice()        | exactly one of the listed words                                |
/// | add_integer_list()  | `3,145,52`: integers, no empty item anywhere                   |
/// | add_dump(), add_path() | a non-empty path that does not start with '-' (write `./-x`) |
///
/// Usage, in a chapter's main():
///
///     CLI::App app{"Chapter 2: ..."};
///     int tp = 4, tokens = 4;
///     std::uint64_t seed = 2026;
///     bool narrate = false;
///     std::string dump_dir;
///     namespace cli = atp::sim::cli;
///     cli::add_tp(app, tp, 64, "number of ranks p (must divide --out)");
///     cli::add_integer(app, "--tokens", tokens, 1, 4096, "tokens T (rows of x)");
///     cli::add_seed(app, seed);
///     cli::add_narrate(app, narrate);
///     cli::add_dump(app, dump_dir, "write every tensor as .npy plus manifest.json into this folder");
///     if (const auto rc = cli::parse(app, argc, argv)) return *rc;
///
/// Each add_*() records the variable's current value as the default that
/// `--help` prints ("INT in [1, 64], default 4"); pass `default_text` where the
/// default is not a value (e.g. "the p atp-launch started"). parse() also
/// registers check_stdout_at_exit(), so that a program whose output could not
/// be written (`> /dev/full`, a closed stdout) exits 1 with a message instead of 0.
///
/// Leaves out: positional arguments, subcommands, configuration files.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atp::sim::cli {

// --- strict conversions: each throws std::invalid_argument naming option, text and what is valid ---

/// `text` as a decimal integer in [lo, hi]: digits only, with a leading '-'
/// only when lo < 0; no '+', spaces, exponent, hex or octal.
std::int64_t parse_integer(std::string_view text, std::string_view option, std::int64_t lo, std::int64_t hi);

/// `text` as a seed: decimal digits for a value in [0, 2^64 - 1].
std::uint64_t parse_seed(std::string_view text, std::string_view option);

/// `text` as a finite decimal number in [lo, hi].
double parse_real(std::string_view text, std::string_view option, double lo, double hi);

/// `text` as an on/off value: exactly "1" or "0".
bool parse_bit(std::string_view text, std::string_view option);

/// `text` as one of `choices`, exactly.
std::string parse_choice(std::string_view text, std::string_view option, const std::vector<std::string>& choices);

/// `text` as comma-separated integers in [lo, hi], e.g. "3,145,52"; spaces
/// around an item are allowed, an empty item (",3", "3,,4", "3,") is not.
std::vector<std::int64_t> parse_integer_list(std::string_view text, std::string_view option, std::int64_t lo,
                                             std::int64_t hi);

/// `text` as a folder or file path: not empty, not starting with '-' (so that
/// `--dump --narrate` is an error, not a folder called "--narrate").
std::string parse_path(std::string_view text, std::string_view option);

// --- options on a CLI::App; each shows its default in --help ---

/// An integer option in [lo, hi] stored in `value`.
CLI::Option* add_integer(CLI::App& app, const std::string& name, int& value, int lo, int hi, const std::string& help,
                         const std::string& default_text = "");

/// An integer option in [lo, hi] stored in a 64-bit `value`.
CLI::Option* add_integer(CLI::App& app, const std::string& name, std::int64_t& value, std::int64_t lo,
                         std::int64_t hi, const std::string& help, const std::string& default_text = "");

/// A finite real option in [lo, hi].
CLI::Option* add_real(CLI::App& app, const std::string& name, double& value, double lo, double hi,
                      const std::string& help, const std::string& default_text = "");

/// An on/off option: `--name` alone or `--name 1` sets `value`, `--name 0` clears it.
CLI::Option* add_flag(CLI::App& app, const std::string& name, bool& value, const std::string& help);

/// One of `choices`, stored in `value`; `default_text` replaces the value in --help when given.
CLI::Option* add_choice(CLI::App& app, const std::string& name, std::string& value,
                        const std::vector<std::string>& choices, const std::string& help,
                        const std::string& default_text = "");

/// Comma-separated integers in [lo, hi]; `default_text` describes what an absent option means.
CLI::Option* add_integer_list(CLI::App& app, const std::string& name, std::vector<std::int64_t>& value,
                              std::int64_t lo, std::int64_t hi, const std::string& help,
                              const std::string& default_text);

/// A path (parse_path()); `default_text` describes what an absent option means.
CLI::Option* add_path(CLI::App& app, const std::string& name, std::string& value, const std::string& help,
                      const std::string& default_text);

/// A free text value (any non-empty text not starting with '-'), e.g. atp-compare's --set KEY=VALUE;
/// may be given several times, each appended to `values`.
CLI::Option* add_texts(CLI::App& app, const std::string& name, std::vector<std::string>& values,
                       const std::string& help, const std::string& default_text = "none");

// --- the options every chapter binary shares ---

/// `--tp`: the number of ranks, in [1, max_tp].
CLI::Option* add_tp(CLI::App& app, int& tp, int max_tp, const std::string& help, const std::string& default_text = "");

/// `--seed`: the generator's seed (parse_seed()).
CLI::Option* add_seed(CLI::App& app, std::uint64_t& seed);

/// `--narrate`: print what every rank holds at every step (an add_flag()).
CLI::Option* add_narrate(CLI::App& app, bool& narrate, const std::string& help = "print what every rank holds at every step");

/// `--dump DIR`: where to write the tensors (a path, default: no dump).
CLI::Option* add_dump(CLI::App& app, std::string& dir, const std::string& help);

// --- parsing and exit ---

/// Parses the command line. Returns the exit code main() should return now
/// (0 after --help, non-zero after an error, which is printed on stderr
/// naming the bad value), or nothing to go on. Registers check_stdout_at_exit() first.
std::optional<int> parse(CLI::App& app, int argc, char** argv);

/// Registers (once) an exit handler that flushes standard output and, if any
/// write to it failed, prints "error: writing standard output failed: <why>"
/// on stderr and ends the process with status 1 (as GNU tools' close_stdout does).
void check_stdout_at_exit();

}  // namespace atp::sim::cli
