/// \file numbers_that_match_gpu.cpp
/// \brief Chapter 0, GPU half: the book's exp, tanh and erf on the device give
/// the host's bits over a dense sweep, while CUDA's own expf, tanhf and erff
/// are different functions; dumps the tensors it shares with the CPU chapter.
///
/// Run: `atp-ch00-numbers-that-match-gpu [--n 1000] [--seed 2026] [--points 1048576] [--dump DIR]`
///
/// Shared with numbers_that_match.cpp (same names, same bits expected):
///
///     x                        (1, n)     the experiment's vector (made on the host)
///     ulp_sweep_<f>_x          (1, 2048)  inputs of the accuracy figure, f in exp, tanh, erf
///     ulp_sweep_<f>_error      (1, 2048)  signed error in ulp of the DEVICE's atp::<f>
///                                         against float64, computed on the host
///
/// The error tensors equal the CPU's exactly when every device value equals
/// the host value, which is the point. --tp is accepted (and recorded) so
/// that one configuration runs both binaries; only the CPU uses it.
/// Exit status 1 if any device atp::<f> differs from the host in any bit.
/// Leaves out: the summation-order experiments (host arithmetic, the same on
/// any machine) and multi-GPU (chapter 1 onwards).
#include "atp/cuda/ops.hpp"
#include "atp/numerics.hpp"
#include "atp/rng.hpp"
#include "atp/sim/cli.hpp"
#include "atp/sim/dump.hpp"
#include "atp/ulp.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

namespace cu = atp::cuda;
using atp::Matrix;

namespace {

/// The experiment's vector, exactly as numbers_that_match.cpp's make_vector().
Matrix make_vector(int n, std::uint64_t seed) {
  Matrix x(1, n);
  for (int i = 0; i < n; ++i) {
    const int e = static_cast<int>(atp::counter_bits(seed, 1, static_cast<std::uint64_t>(i)) % 13) - 6;
    x(0, i) = std::ldexp(atp::counter_uniform(seed, 0, static_cast<std::uint64_t>(i)), e);
  }
  return x;
}

/// One function of the sweep: the book's (host and device), CUDA's, and float64.
struct Function {
  const char* name;          ///< as in the CPU chapter's tensor names
  float lo, hi;              ///< the CPU chapter's range for this function
  float (*host)(float);      ///< the book's function on the host
  double (*ref)(double);     ///< float64 reference
  cu::Elementwise mine;      ///< the book's function on the device
  cu::Elementwise cuda;      ///< CUDA's library function on the device
};

const Function kFunctions[] = {
    {"exp", -87.3f, 88.72f, [](float v) { return atp::exp(v); }, [](double v) { return std::exp(v); },
     cu::Elementwise::Exp, cu::Elementwise::CudaExpf},
    {"tanh", -10.0f, 10.0f, [](float v) { return atp::tanh(v); }, [](double v) { return std::tanh(v); },
     cu::Elementwise::Tanh, cu::Elementwise::CudaTanhf},
    {"erf", -5.0f, 5.0f, [](float v) { return atp::erf(v); }, [](double v) { return std::erf(v); },
     cu::Elementwise::Erf, cu::Elementwise::CudaErff},
};

/// `points` inputs evenly spread over [lo, hi], as the CPU chapter's figure spaces them.
Matrix sweep_inputs(const Function& f, int points) {
  Matrix xs(1, points);
  for (int i = 0; i < points; ++i)
    xs(0, i) = static_cast<float>(f.lo + (static_cast<double>(f.hi) - f.lo) * i / (points - 1));
  return xs;
}

/// Device atp::f vs host atp::f, and CUDA's f vs both, over `points` inputs.
/// Returns the number of inputs where the book's function differs between host and device.
long long dense_sweep(const Function& f, int points) {
  const Matrix xs = sweep_inputs(f, points);
  const Matrix dev = cu::to_host(cu::elementwise(f.mine, cu::to_device(xs)));
  const Matrix lib = cu::to_host(cu::elementwise(f.cuda, cu::to_device(xs)));
  long long host_vs_dev = 0, lib_vs_mine = 0;
  std::uint32_t lib_max_dist = 0;
  double mine_max = 0.0, lib_max = 0.0;
  for (int i = 0; i < points; ++i) {
    const float x = xs(0, i), h = f.host(x);
    const double exact = f.ref(x);
    host_vs_dev += atp::float_bits(h) != atp::float_bits(dev(0, i));
    if (atp::float_bits(lib(0, i)) != atp::float_bits(dev(0, i))) {
      ++lib_vs_mine;
      lib_max_dist = std::max(lib_max_dist, atp::ulp_distance(lib(0, i), dev(0, i)));
    }
    mine_max = std::max(mine_max, atp::ulp_error(dev(0, i), exact));
    lib_max = std::max(lib_max, atp::ulp_error(lib(0, i), exact));
  }
  std::printf("  %-5s [%7.2f, %6.2f]  device atp::%-4s != host: %lld   CUDA %sf != atp::%s: %lld (max %u ulp apart)"
              "   max error: atp %.3f ulp, CUDA %.3f ulp\n",
              f.name, static_cast<double>(f.lo), static_cast<double>(f.hi), f.name, host_vs_dev, f.name, f.name,
              lib_vs_mine, lib_max_dist, mine_max, lib_max);
  return host_vs_dev;
}

/// The CPU chapter's figure data, from device values: ulp_sweep_<f>_x and _error.
void dump_figure(const Function& f, atp::sim::Dumper& dump) {
  constexpr int kPoints = 2048;  // as numbers_that_match.cpp
  const Matrix xs = sweep_inputs(f, kPoints);
  const Matrix dev = cu::to_host(cu::elementwise(f.mine, cu::to_device(xs)));
  Matrix err(1, kPoints);
  for (int i = 0; i < kPoints; ++i) {
    const double exact = f.ref(xs(0, i));
    err(0, i) = static_cast<float>((dev(0, i) - exact) / atp::float_ulp_at(exact));
  }
  dump.add(std::string("ulp_sweep_") + f.name + "_x", xs, "input", -1);
  dump.add(std::string("ulp_sweep_") + f.name + "_error", err, "output", -1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Chapter 0, GPU half: the book's exp, tanh, erf on the device vs the host and vs CUDA's."};
  int tp = 4, n = 1000, points = 1 << 20;
  std::uint64_t seed = 2026;
  std::string dump_dir;
  namespace cli = atp::sim::cli;
  cli::add_tp(app, tp, 1024, "recorded in the dump's config (the CPU chapter splits its sum over tp ranks)");
  cli::add_integer(app, "--n", n, 1, 1 << 20, "length of the vector");
  cli::add_seed(app, seed);
  cli::add_integer(app, "--points", points, 2, 1 << 26, "inputs in each dense sweep");
  cli::add_dump(app, dump_dir, "write the shared tensors as .npy plus manifest.json into this folder");
  if (const auto rc = cli::parse(app, argc, argv)) return *rc;

  try {
    std::printf("Chapter 0 (GPU): the book's functions on the device, %d evenly spaced inputs each\n\n", points);
    long long differing = 0;
    for (const Function& f : kFunctions) differing += dense_sweep(f, points);
    std::printf("\n  %s\n", differing == 0 ? "Device and host agree on every bit: one header, two compilers."
                                          : "Device and host DISAGREE: see NUMERICS.md section 1.");
    if (!dump_dir.empty()) {
      atp::sim::Dumper dump(dump_dir, nlohmann::json{{"chapter", 0}, {"p", tp}, {"n", n}, {"seed", seed},
                                                     {"side", "gpu"}});
      dump.add("x", make_vector(n, seed), "input", -1);
      for (const Function& f : kFunctions) dump_figure(f, dump);
      dump.finish();
      std::printf("  Wrote the dump to %s\n", dump_dir.c_str());
    }
    return differing == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-ch00-numbers-that-match-gpu: %s\n", e.what());
    return 1;
  }
}
