/// \file narrate.hpp
/// \brief Narrated mode: at small sizes, print what every rank holds, step by step.
///
/// The book's "animations" are text: a title, then for each rank its shape and
/// values, e.g. `rank 1 (2, 4): [  0.1250  -0.5000 ... ]`. Output is
/// deterministic (fixed "%8.4f" formatting, rank order), so tests can capture
/// it into a std::ostringstream and compare lines. When the world's narrator
/// is off, nothing is printed and nothing is formatted. Leaves out: colour,
/// terminal control, anything timed.
#pragma once

#include "atp/sim/per_rank.hpp"
#include "atp/tensor.hpp"

#include <iosfwd>
#include <string>

namespace atp::sim {

class World;

/// How much of a matrix the narrator prints.
struct NarrateOptions {
  int max_rows = 4;    ///< rows beyond this are replaced by one "..." line
  int max_cols = 8;    ///< columns beyond this are replaced by "..."
  int precision = 4;   ///< digits after the point (printf "%8.4f" by default)
  /// Print a run of ranks holding exactly the previous rank's bits once, as
  /// "ranks 1-3: the same bits as rank 0" (after an all-reduce, or for inputs
  /// every rank holds), instead of repeating the same numbers p times.
  bool collapse_identical = true;
};

/// Prints titles, text and per-rank matrices to one stream.
class Narrator {
 public:
  /// Narrates to `out` (which must outlive the narrator).
  explicit Narrator(std::ostream& out, NarrateOptions options = {});

  /// The stream everything goes to.
  std::ostream& out() { return *out_; }
  /// The formatting options.
  const NarrateOptions& options() const { return options_; }

  /// "== title ==" on its own line.
  void title(const std::string& title);
  /// One line of free text.
  void text(const std::string& line);
  /// One matrix as "<name> (R, C): [ ... ]" (one row) or a header line and one
  /// indented line per row; truncated by the options.
  void matrix(const std::string& name, const Matrix& m);
  /// A title, then every rank's matrix, named "rank r". With
  /// collapse_identical, ranks whose bits (and shape) equal the rank before
  /// them are named in one line instead of printed again.
  void ranks(const std::string& title, const PerRank<Matrix>& x);

  /// The values of one row, "[  0.1250  -0.5000 ... ]", truncated to max_cols.
  std::string format_row(const Matrix& m, Eigen::Index row) const;

 private:
  std::ostream* out_;
  NarrateOptions options_;
};

/// Prints `title` and what each rank holds in `x`, if the world narrates; otherwise nothing.
void narrate(World& world, const std::string& title, const PerRank<Matrix>& x);
/// Prints one line of text, if the world narrates; otherwise nothing.
void narrate_text(World& world, const std::string& line);

/// Silences a world's narrator for one scope and restores it (same stream,
/// same options) at the end: a decoder narrates its first block in full and
/// runs the others quietly. Does nothing when the world does not narrate.
class NarrationPause {
 public:
  /// Turns `world`'s narration off until destruction.
  explicit NarrationPause(World& world);
  /// Turns it back on if it was on.
  ~NarrationPause();
  NarrationPause(const NarrationPause&) = delete;             ///< One pause per scope.
  NarrationPause& operator=(const NarrationPause&) = delete;  ///< One pause per scope.

 private:
  World* world_;
  std::ostream* out_ = nullptr;
  NarrateOptions options_;
};

}  // namespace atp::sim
