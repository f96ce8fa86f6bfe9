/// \file numbers_that_match.cpp
/// \brief Chapter 0: why the order of a sum decides its bits, and the orders
/// the book fixes so that the CPU simulator and the GPU agree bit for bit.
///
/// Run: `atp-ch00-numbers-that-match [--tp 4] [--n 1000] [--seed 2026] [--narrate] [--dump DIR]`
///
/// Three experiments, in the order the README tells them:
///   1. one vector x (n floats), summed in several orders: every order gives
///      its own float, and only the float64 sum is exact;
///   2. the canonical orders: the fma chain of a dot product, and the 32-lane
///      row order that maps a row onto one GPU warp;
///   3. why the book ships its own exp: two correct libraries disagree.
/// Leaves out: the GPU half (cuda/ and the chapter's GPU test run the same
/// functions on the device).
#include "atp/accuracy.hpp"
#include "atp/numerics.hpp"
#include "atp/rng.hpp"
#include "atp/sim/dump.hpp"
#include "atp/ulp.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

/// The experiment's vector: uniforms on [-1, 1) scaled by 2^e, e in [-6, 6],
/// so that magnitudes differ and additions round. All values sit on a grid
/// fine enough that the float64 sum of up to 2^20 of them is exact.
std::vector<float> make_vector(int n, std::uint64_t seed) {
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) {
    const int e = static_cast<int>(atp::counter_bits(seed, 1, i) % 13) - 6;
    x[i] = std::ldexp(atp::counter_uniform(seed, 0, i), e);
  }
  return x;
}

float sum_left_to_right(const std::vector<float>& x) {
  float s = 0.0f;
  for (float v : x) s = s + v;
  return s;
}

float sum_right_to_left(const std::vector<float>& x) {
  float s = 0.0f;
  for (auto it = x.rbegin(); it != x.rend(); ++it) s = s + *it;
  return s;
}

/// Pairwise (recursive halving): the order of a balanced tree.
float sum_pairwise(const float* x, int n) {
  if (n == 0) return 0.0f;
  if (n == 1) return x[0];
  const int half = n / 2;
  return sum_pairwise(x, half) + sum_pairwise(x + half, n - half);
}

/// Each of p ranks sums its contiguous piece left to right, then the p
/// partial sums are added in rank order: what a row-parallel layer does.
float sum_split_over_ranks(const std::vector<float>& x, int p, std::vector<float>* partials) {
  const int n = static_cast<int>(x.size());
  partials->assign(p, 0.0f);
  for (int r = 0; r < p; ++r) {
    const int begin = static_cast<int>(static_cast<std::int64_t>(r) * n / p);
    const int end = static_cast<int>(static_cast<std::int64_t>(r + 1) * n / p);
    float s = 0.0f;
    for (int i = begin; i < end; ++i) s = s + x[i];
    (*partials)[r] = s;
  }
  float total = (*partials)[0];
  for (int r = 1; r < p; ++r) total = total + (*partials)[r];
  return total;
}

double sum_exact(const std::vector<float>& x) {
  double s = 0.0;
  for (float v : x) s += v;  // exact: see make_vector
  return s;
}

void print_sum(const char* order, float value, double exact) {
  std::printf("  %-34s %+.9e  0x%08x  %5.1f ulp\n", order, static_cast<double>(value),
              atp::float_bits(value), atp::ulp_error(value, exact));
}

/// Experiment 1: one vector, several orders, several answers.
void experiment_orders(const std::vector<float>& x, int p, bool narrate, atp::sim::Dumper* dump) {
  const int n = static_cast<int>(x.size());
  const double exact = sum_exact(x);
  std::vector<float> partials;
  const float left = sum_left_to_right(x);
  const float right = sum_right_to_left(x);
  const float pairwise = sum_pairwise(x.data(), n);
  const float lanes = atp::row_sum_lane32(x.data(), n);
  const float ranks = sum_split_over_ranks(x, p, &partials);

  std::printf("1. One vector of %d floats, summed in different orders\n\n", n);
  std::printf("  %-34s %-16s %-10s %s\n", "order", "value", "bits", "error");
  std::printf("  %-34s %+.9e  (float64, exact)\n", "exact sum", exact);
  print_sum("left to right", left, exact);
  print_sum("right to left", right, exact);
  print_sum("pairwise tree", pairwise, exact);
  print_sum("32-lane order (the book's rows)", lanes, exact);
  const std::string split = "split over " + std::to_string(p) + " ranks, rank order";
  print_sum(split.c_str(), ranks, exact);
  std::vector<std::uint32_t> bits = {atp::float_bits(left), atp::float_bits(right), atp::float_bits(pairwise),
                                     atp::float_bits(lanes), atp::float_bits(ranks)};
  std::sort(bits.begin(), bits.end());
  const auto distinct = std::unique(bits.begin(), bits.end()) - bits.begin();
  std::printf("\n  Same numbers, same operation: %d distinct results from 5 orders.\n\n", static_cast<int>(distinct));

  if (narrate) {
    std::printf("  What each of the %d ranks holds before the final sum:\n", p);
    for (int r = 0; r < p; ++r)
      std::printf("    rank %d: elements [%lld, %lld)  partial sum %+.9e\n", r,
                  static_cast<long long>(static_cast<std::int64_t>(r) * n / p),
                  static_cast<long long>(static_cast<std::int64_t>(r + 1) * n / p),
                  static_cast<double>(partials[r]));
    std::printf("    ((rank 0 + rank 1) + rank 2) + ... = %+.9e\n\n", static_cast<double>(ranks));
  }
  if (dump) {
    atp::Matrix v(1, n);
    for (int i = 0; i < n; ++i) v(0, i) = x[i];
    dump->add("x", v, "input", -1);
    atp::Matrix sums(1, 5);
    sums << left, right, pairwise, lanes, ranks;
    dump->add("sums", sums, "output", -1);
    atp::Matrix part(1, p);
    for (int r = 0; r < p; ++r) part(0, r) = partials[r];
    dump->add("rank_partial_sums", part, "intermediate", -1);
  }
}

/// Experiment 2: the canonical orders, shown on small cases.
void experiment_canonical(std::uint64_t seed, bool narrate) {
  std::printf("2. The canonical orders\n\n");
  // a*b + c rounds twice; fma(a, b, c) rounds once. Find a case where it shows.
  for (std::uint64_t i = 0;; ++i) {
    const float a = atp::counter_uniform(seed, 10, i), b = atp::counter_uniform(seed, 11, i);
    const float c = atp::counter_uniform(seed, 12, i);
    const float twice = a * b + c;  // -ffp-contract=off keeps this two operations
    const float once = atp::fma(a, b, c);
    if (twice != once) {
      std::printf("  a*b + c       = %+.9e (0x%08x): product rounded, then the sum\n",
                  static_cast<double>(twice), atp::float_bits(twice));
      std::printf("  fma(a, b, c)  = %+.9e (0x%08x): one rounding\n", static_cast<double>(once),
                  atp::float_bits(once));
      std::printf("  (a=%+.9e b=%+.9e c=%+.9e; pair %llu of the generator)\n", static_cast<double>(a),
                  static_cast<double>(b), static_cast<double>(c),
                  static_cast<unsigned long long>(i + 1));
      break;
    }
  }
  std::printf("  Dot products: acc = 0; for k ascending: acc = fma(a[k], b[k], acc).\n");
  std::printf("  Row sums: lane l of 32 adds x[l], x[l+32], ...; then lanes fold 16,8,4,2,1.\n\n");
  if (narrate) {
    const int n = 70;
    std::printf("  The 32-lane order for a row of %d elements:\n", n);
    for (int l = 0; l < 4; ++l) {
      std::printf("    lane %2d adds x[%d]", l, l);
      for (int i = l + 32; i < n; i += 32) std::printf(", x[%d]", i);
      std::printf("\n");
    }
    std::printf("    ...\n    lane 31 adds x[31], x[63]\n");
    std::printf("    then v[l] += v[l+16] (l<16), v[l] += v[l+8] (l<8), ... v[0] += v[1]\n\n");
  }
}

/// Experiment 3: the C library's expf against the book's exp.
void experiment_exp(int samples, atp::sim::Dumper* dump) {
  std::printf("3. Why the book has its own exp\n\n");
  int differ = 0;
  double libm_max = 0.0, atp_max = 0.0;
  const double lo = -87.0, hi = 88.0;
  for (int i = 0; i < samples; ++i) {
    const float x = static_cast<float>(lo + (hi - lo) * (i + 0.5) / samples);
    const float mine = atp::exp(x);
    const float libm = std::exp(x);
    const double exact = std::exp(static_cast<double>(x));
    differ += atp::float_bits(mine) != atp::float_bits(libm);
    libm_max = std::max(libm_max, atp::ulp_error(libm, exact));
    atp_max = std::max(atp_max, atp::ulp_error(mine, exact));
  }
  std::printf("  %d inputs evenly spread over [%g, %g]:\n", samples, lo, hi);
  std::printf("    glibc expf   max error %.3f ulp\n", libm_max);
  std::printf("    atp::exp     max error %.3f ulp\n", atp_max);
  std::printf("    they differ on %d inputs (%.2f%%)\n", differ, 100.0 * differ / samples);
  std::printf("  Both are accurate, yet not the same function; CUDA's expf is a third one.\n"
              "  The book's exp is built from + - * / and fma only, so host and device agree.\n\n");

  std::printf("  Accuracy of the book's functions (error vs float64, %d evenly spaced inputs each):\n", samples);
  struct Row {
    const char* name;
    float lo, hi;
    float (*f)(float);
    double (*ref)(double);
  };
  // float64 references, each written in a form that does not cancel.
  const Row rows[] = {
      {"exp", -87.3f, 88.72f, [](float v) { return atp::exp(v); }, [](double v) { return std::exp(v); }},
      {"tanh", -10.0f, 10.0f, [](float v) { return atp::tanh(v); }, [](double v) { return std::tanh(v); }},
      {"erf", -5.0f, 5.0f, [](float v) { return atp::erf(v); }, [](double v) { return std::erf(v); }},
      {"sigmoid", -20.0f, 20.0f, [](float v) { return atp::sigmoid(v); },
       [](double v) { return 1.0 / (1.0 + std::exp(-v)); }},
      {"silu", -20.0f, 20.0f, [](float v) { return atp::silu(v); },
       [](double v) { return v / (1.0 + std::exp(-v)); }},
      {"gelu_tanh", -10.0f, 10.0f, [](float v) { return atp::gelu_tanh(v); },
       [](double v) {
         const double u = std::sqrt(2.0 / 3.14159265358979323846) * (v + 0.044715 * v * v * v);
         return v / (1.0 + std::exp(-2.0 * u));
       }},
      {"gelu_erf", -12.5f, 10.0f, [](float v) { return atp::gelu_erf(v); },
       [](double v) { return 0.5 * v * std::erfc(-v / std::sqrt(2.0)); }},
  };
  if (dump) {
    // Signed error in ulp of the first three functions at 2048 points each: the figure's data.
    constexpr int points = 2048;
    for (int f = 0; f < 3; ++f) {
      atp::Matrix xs(1, points), err(1, points);
      for (int i = 0; i < points; ++i) {
        const float x = static_cast<float>(rows[f].lo + (static_cast<double>(rows[f].hi) - rows[f].lo) * i / (points - 1));
        const double exact = rows[f].ref(x);
        xs(0, i) = x;
        err(0, i) = static_cast<float>((rows[f].f(x) - exact) / atp::float_ulp_at(exact));
      }
      dump->add(std::string("ulp_sweep_") + rows[f].name + "_x", xs, "input", -1);
      dump->add(std::string("ulp_sweep_") + rows[f].name + "_error", err, "output", -1);
    }
  }
  for (const Row& row : rows) {
    const atp::UlpStats st = atp::measure_ulp(row.f, row.ref, row.lo, row.hi, static_cast<std::uint64_t>(samples),
                                              atp::Spacing::values);
    std::printf("    %-10s on [%7.2f, %6.2f]  max %.3f ulp  mean %.3f ulp\n", row.name, static_cast<double>(row.lo),
                static_cast<double>(row.hi), st.max_ulp, st.mean_ulp);
  }
  // exp into the subnormals: the ulp there is the fixed step 2^-149.
  const atp::UlpStats sub = atp::measure_ulp(rows[0].f, rows[0].ref, -103.97f, -87.3f,
                                             static_cast<std::uint64_t>(samples), atp::Spacing::values);
  std::printf("    exp with subnormal results, x in [-103.97, -87.3]: max %.3f ulp (of the subnormal step 2^-149)\n\n",
              sub.max_ulp);
}

/// Why GELU's tanh form carries 2u as a pair of floats: e^v turns a relative
/// error d of v into |v| d of the result. Rounding v = 2u to one float (the
/// best single float, from float64) against the book's float pair.
void experiment_gelu_pair(int samples) {
  const auto rounded_v = [](float x) {
    const double xd = x, v = 2.0 * std::sqrt(2.0 / 3.14159265358979323846) * (xd + 0.044715 * xd * xd * xd);
    return atp::detail::x_sigmoid(x, static_cast<float>(v), 0.0f);
  };
  const auto ref = [](double v) {
    const double u = std::sqrt(2.0 / 3.14159265358979323846) * (v + 0.044715 * v * v * v);
    return v / (1.0 + std::exp(-2.0 * u));
  };
  const float x = -10.0f;
  std::printf("4. GELU (tanh form) needs 2u as a pair of floats\n\n");
  std::printf("   at x = -10: 2u rounded to one float: %.1f ulp;  as a float pair (atp::gelu_tanh): %.2f ulp\n",
              atp::ulp_error(rounded_v(x), ref(x)), atp::ulp_error(atp::gelu_tanh(x), ref(x)));
  const auto one = atp::measure_ulp(rounded_v, ref, -10.0f, 0.0f, static_cast<std::uint64_t>(samples),
                                    atp::Spacing::values);
  const auto pair = atp::measure_ulp([](float v) { return atp::gelu_tanh(v); }, ref, -10.0f, 0.0f,
                                     static_cast<std::uint64_t>(samples), atp::Spacing::values);
  std::printf("   max over [-10, 0], %d inputs: one float %.1f ulp, float pair %.2f ulp\n\n", samples, one.max_ulp,
              pair.max_ulp);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 0: numbers that match. Summation order, canonical orders, the book's exp."};
  int tp = 4, n = 1000, samples = 1 << 18;
  std::uint64_t seed = 2026;
  bool narrate = false;
  std::string dump_dir;
  app.add_option("--tp", tp, "number of ranks the sum is split over")->check(CLI::Range(1, 1024));
  app.add_option("--n", n, "length of the vector")->check(CLI::Range(1, 1 << 20));
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_option("--samples", samples, "inputs in the exp sweep")->check(CLI::Range(1, 1 << 26));
  app.add_flag("--narrate", narrate, "print what each rank holds");
  app.add_option("--dump", dump_dir, "write the tensors as .npy plus manifest.json into this folder");
  CLI11_PARSE(app, argc, argv);

  try {
    std::printf("Chapter 0: numbers that match (tp=%d, n=%d, seed=%llu)\n\n", tp, n,
                static_cast<unsigned long long>(seed));
    std::unique_ptr<atp::sim::Dumper> dump;
    if (!dump_dir.empty())
      dump = std::make_unique<atp::sim::Dumper>(
          dump_dir, nlohmann::json{{"chapter", 0}, {"p", tp}, {"n", n}, {"seed", seed}});
    experiment_orders(make_vector(n, seed), tp, narrate, dump.get());
    experiment_canonical(seed, narrate);
    experiment_exp(samples, dump.get());
    experiment_gelu_pair(samples);
    if (dump) {
      dump->finish();
      std::printf("Wrote the dump to %s\n", dump_dir.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
