/// \file narrate.cpp
/// \brief Narrated mode: deterministic, truncated printing of per-rank matrices.
#include "atp/sim/narrate.hpp"

#include "atp/sim/world.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ostream>

namespace atp::sim {

Narrator::Narrator(std::ostream& out, NarrateOptions options) : out_(&out), options_(options) {}

void Narrator::title(const std::string& title) { *out_ << "== " << title << " ==\n"; }

void Narrator::text(const std::string& line) { *out_ << line << '\n'; }

std::string Narrator::format_row(const Matrix& m, Eigen::Index row) const {
  std::string s = "[";
  char buf[64];
  const Eigen::Index shown = std::min<Eigen::Index>(m.cols(), options_.max_cols);
  for (Eigen::Index j = 0; j < shown; ++j) {
    // printf, not iostream: the same text on every platform and locale-free digits.
    std::snprintf(buf, sizeof buf, " %*.*f", options_.precision + 4, options_.precision, static_cast<double>(m(row, j)));
    s += buf;
  }
  if (shown < m.cols()) s += " ...";
  return s + " ]";
}

void Narrator::matrix(const std::string& name, const Matrix& m) {
  *out_ << name << ' ' << shape_string(m) << ':';
  if (m.size() == 0) {
    *out_ << " (empty)\n";
    return;
  }
  if (m.rows() == 1) {
    *out_ << ' ' << format_row(m, 0) << '\n';
    return;
  }
  *out_ << '\n';
  const Eigen::Index shown = std::min<Eigen::Index>(m.rows(), options_.max_rows);
  for (Eigen::Index i = 0; i < shown; ++i) *out_ << "  " << format_row(m, i) << '\n';
  if (shown < m.rows()) *out_ << "  ...\n";
}

namespace {
/// Same shape and the same 32-bit patterns (memcmp: -0.0 differs from +0.0, NaN payloads count).
bool same_bits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0);
}
}  // namespace

void Narrator::ranks(const std::string& title_line, const PerRank<Matrix>& x) {
  title(title_line);
  int r = 0;
  while (r < x.size()) {
    matrix("rank " + std::to_string(r), x[r]);
    int last = r;  // the run of ranks after r that hold r's bits
    while (options_.collapse_identical && last + 1 < x.size() && same_bits(x[last + 1], x[r])) ++last;
    if (last > r) {
      const std::string who = last == r + 1 ? "rank " + std::to_string(last)
                                            : "ranks " + std::to_string(r + 1) + "-" + std::to_string(last);
      *out_ << who << ": the same bits as rank " << r << '\n';
    }
    r = last + 1;
  }
}

void narrate(World& world, const std::string& title, const PerRank<Matrix>& x) {
  if (Narrator* n = world.narrator()) n->ranks(title, x);
}

void narrate_text(World& world, const std::string& line) {
  if (Narrator* n = world.narrator()) n->text(line);
}

NarrationPause::NarrationPause(World& world) : world_(&world) {
  if (Narrator* n = world.narrator()) {
    out_ = &n->out();
    options_ = n->options();
    world.stop_narrating();
  }
}

NarrationPause::~NarrationPause() {
  if (out_ != nullptr) world_->narrate_to(*out_, options_);
}

}  // namespace atp::sim
