/// \file rotary_accuracy.hpp
/// \brief The accuracy of atp/rotary.hpp against float64, measured over
///        dense sweeps: one definition of the sweeps, used by
///        tests/test_rotary.cpp (which asserts bounds) and by
///        `atp-ch07-tensor-parallel-decoder --rope-accuracy` (which prints them).
///
/// Rows: sin and cos over evenly spaced values of [-1000, 1000] and over
/// every k-th float of [2^-20, 2^20] (the domain RoPE reaches with 2^20
/// positions); rope_inv_freq for every pair of every even head_dim 2..256
/// at theta 10^4 and 5 10^5, against pow in double; and the cos/sin table
/// entries of positions 0..255 (the shipped model) and 0..4095 (head_dim 8 and 128, theta 10^4) against
/// cos(pos theta^(-2i/d)) in double, as an absolute error: there the angle
/// is a float product, so the error grows with the position (about
/// pos 2^-23), as in every fp32 RoPE. Leaves out: the GPU (the bits are the
/// same by construction; tests/gpu checks the device against the host).
#pragma once

#include "atp/accuracy.hpp"
#include "atp/rotary.hpp"

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace atp {

/// One measured row.
struct RopeAccuracyRow {
  std::string what;      ///< "sin", "cos", "rope_inv_freq", "table cos/sin"
  std::string domain;    ///< where it was measured
  UlpStats ulp;          ///< ulp errors (rows measured in ulp)
  double max_abs = 0.0;  ///< largest absolute error (the table row)
};

/// The rows of the file comment; `samples` per sin/cos sweep (>= 2).
inline std::vector<RopeAccuracyRow> measure_rope_accuracy(std::uint64_t samples) {
  const auto sin_f = [](float x) {
    float s = 0.0f, c = 0.0f;
    atp::sincos(x, &s, &c);
    return s;
  };
  const auto cos_f = [](float x) {
    float s = 0.0f, c = 0.0f;
    atp::sincos(x, &s, &c);
    return c;
  };
  const auto sin_d = [](double x) { return std::sin(x); };
  const auto cos_d = [](double x) { return std::cos(x); };
  std::vector<RopeAccuracyRow> rows;
  rows.push_back({"sin", "[-1000, 1000] evenly spaced", measure_ulp(sin_f, sin_d, -1000.0f, 1000.0f, samples, Spacing::values), 0.0});
  rows.push_back({"cos", "[-1000, 1000] evenly spaced", measure_ulp(cos_f, cos_d, -1000.0f, 1000.0f, samples, Spacing::values), 0.0});
  rows.push_back({"sin", "every k-th float of [2^-20, 2^20]",
                  measure_ulp(sin_f, sin_d, 0x1.0p-20f, 0x1.0p+20f, samples, Spacing::floats), 0.0});
  rows.push_back({"cos", "every k-th float of [2^-20, 2^20]",
                  measure_ulp(cos_f, cos_d, 0x1.0p-20f, 0x1.0p+20f, samples, Spacing::floats), 0.0});

  RopeAccuracyRow inv{"rope_inv_freq", "every pair, head_dim 2..256, theta 1e4 and 5e5", {}, 0.0};
  double sum = 0.0;
  for (float theta : {10000.0f, 500000.0f})
    for (int d = 2; d <= 256; d += 2)
      for (int i = 0; i < d / 2; ++i) {
        const double e = ulp_error(rope_inv_freq(i, d, theta), std::pow(static_cast<double>(theta), -2.0 * i / d));
        sum += e;
        if (inv.ulp.samples == 0 || e > inv.ulp.max_ulp) {
          inv.ulp.max_ulp = e;
          inv.ulp.worst_input = static_cast<float>(i);
        }
        ++inv.ulp.samples;
      }
  inv.ulp.mean_ulp = sum / static_cast<double>(inv.ulp.samples);
  rows.push_back(inv);

  const auto table = [](int positions, std::initializer_list<int> dims, const char* domain) {
    RopeAccuracyRow row{"table cos/sin", domain, {}, 0.0};
    for (int d : dims)
      for (int pos = 0; pos < positions; ++pos)
        for (int i = 0; i < d / 2; ++i) {
          float c = 0.0f, s = 0.0f;
          rope_cos_sin(pos, i, d, 10000.0f, &c, &s);
          const double angle = pos * std::pow(10000.0, -2.0 * i / d);
          row.max_abs = std::fmax(row.max_abs, std::fmax(std::fabs(c - std::cos(angle)), std::fabs(s - std::sin(angle))));
          ++row.ulp.samples;
        }
    return row;
  };
  rows.push_back(table(256, {8}, "positions 0..255, head_dim 8, theta 1e4 (the shipped model; absolute)"));
  rows.push_back(table(4096, {8, 128}, "positions 0..4095, head_dim 8 and 128, theta 1e4 (absolute)"));
  return rows;
}

}  // namespace atp
