/// \file decoder_cli.hpp
/// \brief The options the chapter 7 binary and its GPU worker share, and
///        their strict checks (prompt text or ids, steps, tokenizer).
///
/// Both binaries take the same run options with the same names and the same
/// defaults, so atp-compare can pass one configuration to both. Every bad
/// value is refused with a message that names it and what would be valid.
/// Leaves out: the binaries' own extras (narration, the tp sweep, the RoPE
/// accuracy table on the CPU side). Built on the shared command line
/// (atp/sim/cli.hpp): strict values, defaults in --help.
#pragma once

#include "atp/sim/checkpoint/checkpoint.hpp"
#include "atp/sim/checkpoint/tokenizer.hpp"
#include "atp/sim/cli.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#ifndef ATP_CH07_CHECKPOINT
#error "ATP_CH07_CHECKPOINT must name the default checkpoint (data/fortune-llama.bin)"
#endif

namespace atp::ch07 {

/// Exit status when --tp does not fit the model: the tour skips the chapter at such a tp.
inline constexpr int kExitTpDoesNotFit = 77;

/// The run options of both binaries.
struct RunOptions {
  std::string checkpoint = ATP_CH07_CHECKPOINT;  ///< llama2.c or safetensors file
  std::string prompt = "The ";                    ///< text, byte-level (BOS is added)
  std::string prompt_ids;                         ///< "1,84,104": ids, BOS included
  std::string tokenizer;                          ///< llama2.c tokenizer.bin (printing only)
  int steps = 24;                                 ///< tokens to generate
  int tp = 4;                                     ///< ranks
  std::uint64_t seed = 2026;                      ///< recorded (the weights come from the checkpoint)
  std::string reduce_order = "rank-order";        ///< every all-reduce's order ("tree": chapter 11's invariant order)
  std::string logits = "all-gather";              ///< the LM head's collective
  std::string dump;                               ///< dump directory
};

/// Registers the shared options on `app`.
inline void add_run_options(CLI::App& app, RunOptions& o) {
  namespace cli = atp::sim::cli;
  cli::add_path(app, "--checkpoint", o.checkpoint, "llama2.c .bin or .safetensors checkpoint", o.checkpoint);
  // Free text: any bytes, a leading '-' included (the option's value is taken as given).
  auto* prompt = app.add_option("--prompt", o.prompt, "prompt text; BOS is prepended (byte-level tokens)")
                     ->capture_default_str();
  auto* ids = app.add_option("--prompt-ids", o.prompt_ids,
                             "prompt as comma-separated ids, BOS included, e.g. 1,84,104 (default: --prompt)");
  prompt->excludes(ids);
  ids->excludes(prompt);
  cli::add_path(app, "--tokenizer", o.tokenizer,
                "llama2.c tokenizer.bin to print other llama2.c models' ids as text", "byte-level");
  cli::add_integer(app, "--steps", o.steps, 1, 1 << 20,
                   "tokens to generate (the prompt plus these must fit max_seq_len)");
  cli::add_tp(app, o.tp, 64, "number of ranks p (must fit the model's heads and vocabulary)");
  cli::add_seed(app, o.seed);
  auto* order = cli::add_choice(app, "--reduce-order", o.reduce_order, {"rank-order", "ring", "tree"},
                                "order of every all-reduce (tree: the blocked tree order of chapter 11)");
  // --invariant is the name the book uses for the tree order: the same bits at every tp (chapter 11).
  app.add_flag_callback("--invariant", [&o] { o.reduce_order = "tree"; },
                        "bit-invariant TP (chapter 11): every row-parallel sum in the blocked tree order of S = 8 "
                        "segments, the FFN padded to a multiple of 8; the same bits at tp 1, 2, 4, 8 "
                        "(= --reduce-order tree)")
      ->excludes(order);
  cli::add_choice(app, "--logits", o.logits, {"all-gather", "gather"},
                  "the LM head's collective: all-gather (every rank) or gather (rank 0)");
  cli::add_dump(app, o.dump, "write prompt, generated ids, every step's logits and the KV caches (.npy)");
}

/// "1,84,104" -> {1, 84, 104}. \throws std::invalid_argument naming the bad
/// item and its position, or an id outside [0, vocab).
inline std::vector<std::int64_t> parse_id_list(const std::string& text, std::int64_t vocab) {
  std::vector<std::int64_t> ids;
  std::size_t at = 0;
  for (int item = 0;; ++item) {
    const std::size_t comma = text.find(',', at);
    const std::string s = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    std::size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (s.empty() || used != s.size())
      throw std::invalid_argument("--prompt-ids '" + text + "': item " + std::to_string(item) + " ('" + s +
                                  "') is not an integer; give comma-separated ids such as 1,84,104");
    if (v < 0 || v >= vocab)
      throw std::invalid_argument("--prompt-ids: id " + std::to_string(v) + " (item " + std::to_string(item) +
                                  ") is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    ids.push_back(v);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return ids;
}

/// The tokenizer the options ask for: llama2.c's file, or byte-level.
inline atp::sim::Tokenizer make_tokenizer(const RunOptions& o, std::int64_t vocab) {
  return o.tokenizer.empty() ? atp::sim::Tokenizer::bytes(vocab) : atp::sim::Tokenizer::open_llama2c(o.tokenizer, vocab);
}

/// The prompt's ids (from --prompt-ids, or --prompt through the tokenizer),
/// checked with --steps against max_seq_len.
/// \throws std::invalid_argument naming the numbers and the largest valid --steps.
inline std::vector<std::int64_t> prompt_ids(const RunOptions& o, const atp::sim::Tokenizer& tok,
                                            const atp::sim::DecoderConfig& config) {
  std::vector<std::int64_t> ids = o.prompt_ids.empty() ? tok.encode(o.prompt) : parse_id_list(o.prompt_ids, config.vocab);
  const auto total = static_cast<std::int64_t>(ids.size()) + o.steps;
  if (total > config.max_seq_len)
    throw std::invalid_argument("--steps " + std::to_string(o.steps) + " after a prompt of " +
                                std::to_string(ids.size()) + " tokens makes " + std::to_string(total) +
                                " tokens, more than the model's max_seq_len " + std::to_string(config.max_seq_len) +
                                "; use --steps <= " +
                                std::to_string(config.max_seq_len - static_cast<std::int64_t>(ids.size())));
  return ids;
}

/// "1,84,104": the form the dump's config records.
inline std::string id_list_text(const std::vector<std::int64_t>& ids) {
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);  // appended, not chained with +: GCC 12 warns falsely there (-Wrestrict)
  }
  return s;
}

/// "1 84 104": the form of the `generated:` line.
inline std::string id_line(const std::vector<std::int64_t>& ids) {
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(ids[i]);
  }
  return s;
}

}  // namespace atp::ch07
