/// \file compare.cpp
/// \brief atp-compare: run a chapter on the CPU simulator and on real GPUs,
///        then compare every tensor both computed, bit for bit; optionally
///        record the GPU's digests as the chapter's golden file.
///
/// Usage:
///
///     atp-compare --chapter 1 --tp 4 [--set rows=2 --set cols=8 --seed 2026] [--form ring]
///     atp-compare --chapter 0 --tp 2 [--set n=1000] --write-golden
///     atp-compare --list-chapters       # "NN p p p" per chapter: its canonical tp values
///     atp-compare --chapter 2 --tp 8 --launcher "mpirun -np 8 --hostfile hosts" --keep /shared/work
///
/// What it does:
///  1. `atp-chNN-...  <config> --dump WORK/cpu` (the CPU simulator);
///  2. the chapter's GPU worker with `--dump WORK/gpu`: chapter 1 as p ranks
///     under atp-launch, every rank writing its own dump into
///     WORK/gpu/rank<r>/ (its per-rank tensors; rank 0 also the global ones),
///     chapter 0 as one process into WORK/gpu/. The tool merges the GPU
///     manifests; a name found twice is an error.
///  3. For every GPU tensor: the CPU tensor of the same name must exist and
///     have the same bits; every CPU tensor must have a GPU twin, except the
///     few the chapter computes on the host only (cpu_only()). Prints one row per tensor: elements, equal?,
///     first mismatch (index, cpu value, gpu value), differing count, max ulp.
///     Names starting with "gpu." are GPU-only extras and are not compared;
///     int64 tensors (token ids) are compared element by element;
///     `all_reduce_native.rank<r>` (ncclAllReduce) is compared with the
///     CPU's rank-order sum and must be bitwise equal only for p <= 2
///     (NUMERICS.md section 3); for p > 2 its row is information.
///  4. With --write-golden and every comparison equal, writes or updates
///     tests/golden/chNN.json (golden.hpp) from the GPU side's digests, with
///     the GPU name and the CUDA runtime, driver and NCCL versions.
///
/// --form native|rank-order|ring compares only the inputs and that form of
/// all-reduce (chapter 1). Every run prints how the ranks share the GPUs
/// (ATP_GPU_SHARING, launch.hpp) and the NCCL version before it starts.
/// --launcher "CMD ARGS" starts the GPU ranks with CMD instead of atp-launch
/// (mpirun or srun on a cluster: the workers bootstrap from MPI; WORK must
/// then be on a file system every node sees, e.g. --keep /shared/dir).
/// --summary FILE appends one line per comparison for scripts:
/// "chapter p tensors equal mismatching missing". Exit status: 0 all equal;
/// 1 a mismatch or a missing tensor; 2 no GPU; 3 a run failed or bad arguments.
///
/// Left out: chapters without a GPU worker, tolerance comparisons against the
/// float64 reference (the chapters' own tests do those), several nodes.
#include "atp/cuda/launch.hpp"
#include "atp/cuda/nccl_id.hpp"
#include "atp/cuda/worker.hpp"
#include "atp/sim/chapter_registry.hpp"
#include "atp/sim/dump.hpp"
#include "atp/sim/golden.hpp"
#include "atp/ulp.hpp"

#include <CLI/CLI.hpp>
#include <cuda_runtime.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace sim = atp::sim;
using nlohmann::json;

namespace {

constexpr int kExitMismatch = 1;
constexpr int kExitNoGpu = 2;
constexpr int kExitRunFailed = 3;

/// Where the binaries are: compiled-in build paths, overridable on the command line.
struct Programs {
  std::string launch = ATP_LAUNCH_EXE;      ///< atp-launch
  std::string chapters = ATP_CHAPTERS_DIR;  ///< the build's chapters/ folder
  std::string cpu, gpu;                     ///< the chapter's binaries (set from the registry unless given)
};

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs `argv` through the shell with output to `log`; prints the log's end on failure.
bool run_logged(const std::vector<std::string>& argv, const fs::path& log, const char* what) {
  std::string cmd;
  for (const auto& a : argv) cmd.append(cmd.empty() ? "" : " ").append(quoted(a));
  cmd.append(" > ").append(quoted(log.string())).append(" 2>&1");
  const int raw = std::system(cmd.c_str());
  if (raw == 0) return true;
  int rc = raw;  // -1: the shell itself could not start
  if (raw != -1 && WIFEXITED(raw)) rc = WEXITSTATUS(raw);
  if (raw != -1 && WIFSIGNALED(raw)) rc = 128 + WTERMSIG(raw);
  std::fflush(stdout);
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::fprintf(stderr, "atp-compare: the %s run failed (status %d): %s\n", what, rc, cmd.c_str());
  for (std::size_t i = lines.size() > 30 ? lines.size() - 30 : 0; i < lines.size(); ++i)
    std::fprintf(stderr, "  | %s\n", lines[i].c_str());
  return false;
}

/// "13.0" from a CUDA version code such as 13000.
std::string cuda_version_string(int code) {
  return std::to_string(code / 1000) + "." + std::to_string((code % 1000) / 10);
}

/// What the golden file records about the machine.
json machine_description() {
  cudaDeviceProp prop{};
  int runtime = 0, driver = 0;
  std::string gpu = "unknown";
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) gpu = prop.name;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  return json{{"gpu", gpu},
              {"cuda", cuda_version_string(runtime)},
              {"driver", cuda_version_string(driver)},
              {"nccl", atp::cuda::nccl_version_string(atp::cuda::nccl_runtime_version())}};
}

/// One tensor of the merged GPU dump.
struct Located {
  fs::path dir;                ///< the dump directory holding it
  sim::TensorEntry entry;      ///< its manifest entry
};

/// Every tensor of the dump at `root` or of the per-rank dumps root/rank<r>/.
std::map<std::string, Located> merge_gpu_dumps(const fs::path& root) {
  std::vector<fs::path> dirs;
  if (fs::exists(root / "manifest.json")) dirs.push_back(root);
  for (int r = 0; fs::exists(atp::cuda::rank_dump_dir(root, r) / "manifest.json"); ++r)
    dirs.push_back(atp::cuda::rank_dump_dir(root, r));
  if (dirs.empty()) throw std::runtime_error("the GPU run left no manifest.json under " + root.string());
  std::map<std::string, Located> out;
  for (const auto& d : dirs)
    for (const auto& e : sim::load_manifest(d).tensors) {
      if (out.count(e.name) != 0)
        throw std::runtime_error("tensor '" + e.name + "' is in two GPU dumps: " + out[e.name].dir.string() +
                                 " and " + d.string());
      out[e.name] = {d, e};
    }
  return out;
}

/// Whether tensor `name` takes part under --form `form` (empty: all).
bool selected(const std::string& name, const std::string& form) {
  if (form.empty()) return true;
  const bool is_all_reduce = name.rfind("all_reduce_", 0) == 0;
  if (name.rfind("x.", 0) == 0 || name == "x") return true;
  if (!is_all_reduce) return false;
  std::string want = form;
  for (char& c : want) c = c == '-' ? '_' : c;
  return name.rfind("all_reduce_" + want + ".", 0) == 0;
}

/// Tensors the CPU chapter dumps that its GPU worker need not produce
/// (ChapterSpec::cpu_only, e.g. chapter 0's summation experiments: host
/// arithmetic, the same on any machine). Every other CPU tensor must have a GPU twin.
bool cpu_only(const sim::ChapterSpec& spec, const std::string& name) {
  for (const auto& n : spec.cpu_only)
    if (n == name) return true;
  return false;
}

/// The CPU tensor a GPU tensor is compared with: itself, except that
/// ncclAllReduce's result is held against the rank-order sum.
std::string cpu_name_for(const std::string& gpu_name) {
  const std::string native = "all_reduce_native.";
  if (gpu_name.rfind(native, 0) == 0) return "all_reduce_rank_order." + gpu_name.substr(native.size());
  return gpu_name;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"atp-compare: a chapter on the CPU simulator and on GPUs, compared bit for bit"};
  int chapter = 1, tp = 4;
  std::vector<std::string> settings;
  std::optional<std::uint64_t> seed;
  std::string form, keep, golden_dir = ATP_GOLDEN_DIR;
  bool write_golden = false;
  double timeout_s = 300.0;
  Programs programs;
  app.add_option("--chapter", chapter, "chapter number (a chapter with a GPU half)");
  app.add_option("--tp", tp, "number of ranks p")->check(CLI::Range(1, 64));
  app.add_option("--set", settings, "a chapter option KEY=VALUE, e.g. --set rows=3 (default: canonical values)");
  app.add_option("--seed", seed, "seed of the counter-based generator");
  app.add_option("--form", form, "compare only this all-reduce form: native, rank-order or ring")
      ->check(CLI::IsMember({"native", "rank-order", "ring"}));
  app.add_flag("--write-golden", write_golden, "record the GPU's digests in the chapter's golden file");
  app.add_option("--golden-dir", golden_dir, "where golden files live")->capture_default_str();
  app.add_option("--keep", keep, "keep both dumps in this directory (default: a temporary one, removed)");
  app.add_option("--timeout", timeout_s, "seconds the GPU ranks may take")->capture_default_str();
  app.add_option("--launch-exe", programs.launch, "atp-launch")->capture_default_str();
  app.add_option("--cpu-exe", programs.cpu, "the chapter's CPU binary (default: the one built with this tool)");
  app.add_option("--gpu-exe", programs.gpu, "the chapter's GPU worker (default: the one built with this tool)");
  std::string launcher, summary_file;
  app.add_option("--launcher", launcher,
                 "start the GPU ranks with this command instead of atp-launch, e.g. \"mpirun -np 4\" "
                 "(split at spaces; the worker and its arguments follow it)");
  app.add_option("--summary", summary_file, "append 'chapter p tensors equal mismatching missing' to this file");
  bool list_chapters = false;
  app.add_flag("--list-chapters", list_chapters, "print each chapter with a GPU half and its canonical tp values");
  CLI11_PARSE(app, argc, argv);
  if (list_chapters) {
    for (const auto& s : sim::chapter_specs()) {
      std::printf("%02d", s.number);
      for (int p : s.canonical_p) std::printf(" %d", p);
      std::printf("\n");
    }
    return 0;
  }

  // The configuration both sides run: the chapter's canonical options unless given.
  const sim::ChapterSpec* spec = nullptr;
  json config;
  try {
    spec = &sim::chapter_spec(chapter);
    config = spec->options;
    for (const auto& kv : settings) {
      const auto eq = kv.find('=');
      const std::string key = eq == std::string::npos ? kv : kv.substr(0, eq);
      if (eq == std::string::npos || !spec->options.contains(key))
        throw std::invalid_argument("--set " + kv + ": chapter " + std::to_string(chapter) +
                                    " takes KEY=VALUE with KEY one of " + spec->options.dump());
      const std::string value = kv.substr(eq + 1);
      config[key] = spec->options[key].is_number_integer() ? json(std::stoll(value)) : json(value);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-compare: %s\n", e.what());
    return kExitRunFailed;
  }
  config["chapter"] = chapter;
  config["p"] = tp;
  config["seed"] = seed.value_or(2026);
  const fs::path folder = fs::path(programs.chapters) / spec->folder;
  if (programs.cpu.empty()) programs.cpu = (folder / sim::chapter_binary_name(*spec)).string();
  if (programs.gpu.empty()) programs.gpu = (folder / (sim::chapter_binary_name(*spec) + "-gpu")).string();
  if (write_golden && !form.empty()) {
    std::fprintf(stderr, "atp-compare: --write-golden records every tensor; drop --form %s\n", form.c_str());
    return kExitRunFailed;
  }

  int devices = 0;
  const cudaError_t err = cudaGetDeviceCount(&devices);
  if (err != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "atp-compare: no CUDA device found (%s); there is no GPU side to compare\n",
                 err != cudaSuccess ? cudaGetErrorString(err) : "cudaGetDeviceCount reported 0 devices");
    return kExitNoGpu;
  }

  // How the ranks will share the GPUs, said before anything runs (a bad
  // ATP_GPU_SHARING or an impossible mode fails here, not inside atp-launch).
  try {
    const int nccl = atp::cuda::nccl_runtime_version();
    if (!spec->gpu_runs_as_ranks) {
      std::printf("atp-compare: chapter %d's GPU half is one process on GPU 0; NCCL %s\n", chapter,
                  atp::cuda::nccl_version_string(nccl).c_str());
    } else if (!launcher.empty()) {
      std::printf("atp-compare: p=%d started by '%s' (the ranks bootstrap from MPI); this node: %d GPU(s), NCCL %s, "
                  "ATP_GPU_SHARING=%s\n",
                  tp, launcher.c_str(), devices, atp::cuda::nccl_version_string(nccl).c_str(),
                  atp::cuda::to_string(atp::cuda::gpu_sharing_from_env()));
    } else {
      const atp::cuda::LaunchPlan plan = atp::cuda::plan_launch(tp, devices, nccl, atp::cuda::gpu_sharing_from_env());
      std::printf("atp-compare: p=%d on %d GPU(s), NCCL %s, GPU sharing '%s': %s\n", tp, devices,
                  atp::cuda::nccl_version_string(nccl).c_str(), atp::cuda::to_string(plan.sharing),
                  plan.reason.c_str());
    }
    std::fflush(stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-compare: %s\n", e.what());
    return kExitRunFailed;
  }

  const std::vector<std::string> args = sim::chapter_args(config);

  const bool temporary = keep.empty();
  const fs::path work = temporary ? fs::temp_directory_path() / ("atp-compare-" + std::to_string(::getpid()))
                                  : fs::path(keep);
  int status = 0;
  try {
    fs::remove_all(work / "cpu");
    fs::remove_all(work / "gpu");
    fs::create_directories(work);

    std::vector<std::string> cpu = {programs.cpu};
    cpu.insert(cpu.end(), args.begin(), args.end());
    cpu.insert(cpu.end(), spec->cpu_extra_args.begin(), spec->cpu_extra_args.end());
    cpu.insert(cpu.end(), {"--dump", (work / "cpu").string()});
    std::vector<std::string> gpu;
    if (spec->gpu_runs_as_ranks && !launcher.empty()) {
      std::istringstream words(launcher);
      for (std::string w; words >> w;) gpu.push_back(w);
      gpu.push_back(programs.gpu);
    } else if (spec->gpu_runs_as_ranks) {
      gpu = {programs.launch, "-p", std::to_string(tp), "--timeout", std::to_string(timeout_s), "--", programs.gpu};
    } else {
      gpu = {programs.gpu};
    }
    gpu.insert(gpu.end(), args.begin(), args.end());
    gpu.insert(gpu.end(), {"--dump", (work / "gpu").string()});

    std::printf("atp-compare: %s\n", sim::describe_config(config).c_str());
    if (!run_logged(cpu, work / "cpu.log", "CPU") || !run_logged(gpu, work / "gpu.log", "GPU")) {
      status = kExitRunFailed;
    } else {
      const auto gpu_tensors = merge_gpu_dumps(work / "gpu");
      const sim::Manifest cpu_manifest = sim::load_manifest(work / "cpu");
      std::map<std::string, bool> cpu_names;
      for (const auto& e : cpu_manifest.tensors) cpu_names[e.name] = false;

      std::printf("\n%-28s %9s  %-5s  %-44s %9s %8s\n", "tensor", "elements", "equal",
                  "first mismatch (index: cpu, gpu)",
                  "differing", "max ulp");
      int mismatches = 0, missing = 0, informational = 0, compared = 0;
      sim::GoldenEntry golden_entry{sim::golden_config(config), {}};
      for (const auto& [name, located] : gpu_tensors) {
        if (name.rfind("gpu.", 0) == 0 || !selected(name, form)) continue;
        const std::string cpu_name = cpu_name_for(name);
        const bool must_equal = cpu_name == name || tp <= 2;
        if (cpu_names.count(cpu_name) == 0) {
          std::printf("%-28s %9s  %-5s  missing on the CPU side (no tensor '%s')\n", name.c_str(), "-", "NO",
                      cpu_name.c_str());
          ++missing;
          continue;
        }
        cpu_names[cpu_name] = true;
        if (located.entry.dtype == "int64") {
          // Token ids (chapter 7's prompt and generated ids): equal or not, element by element.
          const auto c = sim::load_tensor_i64(work / "cpu", cpu_name);
          const auto g = sim::load_tensor_i64(located.dir, name);
          std::size_t first = 0, differing = c.size() == g.size() ? 0 : std::max(c.size(), g.size());
          for (std::size_t i = 0; i < std::min(c.size(), g.size()); ++i)
            if (c[i] != g[i] && differing++ == 0) first = i;
          const std::string where = differing == 0 ? "-"
                                    : c.size() != g.size()
                                        ? "length " + std::to_string(c.size()) + " vs " + std::to_string(g.size())
                                        : std::to_string(first) + ": " + std::to_string(c[first]) + ", " +
                                              std::to_string(g[first]);
          std::printf("%-28s %9zu  %-5s  %-44s %9zu %8s\n", name.c_str(), g.size(), differing == 0 ? "yes" : "NO",
                      where.c_str(), differing, "-");
          if (differing != 0) ++mismatches;
          golden_entry.tensors[name] = {located.entry.shape, located.entry.fnv1a64};
          continue;
        }
        const atp::Matrix c = sim::load_tensor(work / "cpu", cpu_name);
        const atp::Matrix g = sim::load_tensor(located.dir, name);
        const atp::BitwiseReport r = atp::compare_bitwise(c, g);
        std::string first = "-";
        if (!r.shape_mismatch.empty()) {
          first = "shape " + r.shape_mismatch;
        } else if (r.differing > 0) {
          char buf[128];
          std::snprintf(buf, sizeof buf, "%zu: %.9g, %.9g", r.first_index, static_cast<double>(r.first_a),
                        static_cast<double>(r.first_b));
          first = buf;
        }
        const char* verdict = r.equal() ? "yes" : (must_equal ? "NO" : "no*");
        std::printf("%-28s %9zu  %-5s  %-44s %9zu %8u\n", name.c_str(), r.count, verdict, first.c_str(), r.differing,
                    r.max_ulp);
        ++compared;
        if (!r.equal()) ++(must_equal ? mismatches : informational);
        if (cpu_name == name) golden_entry.tensors[name] = {located.entry.shape, located.entry.fnv1a64};
      }
      for (const auto& [name, seen] : cpu_names) {
        if (seen || !selected(name, form)) continue;
        if (cpu_only(*spec, name)) {
          std::printf("%-28s (CPU only: host arithmetic the GPU worker does not repeat)\n", name.c_str());
        } else {
          std::printf("%-28s %9s  %-5s  missing on the GPU side\n", name.c_str(), "-", "NO");
          ++missing;
        }
      }
      if (informational > 0)
        std::printf("\nno* = ncclAllReduce's own order, bitwise equal to the rank-order sum only for p <= 2.\n");
      std::printf("\n%d mismatching, %d missing\n", mismatches, missing);
      status = mismatches + missing > 0 ? kExitMismatch : 0;
      if (!summary_file.empty()) {
        std::ofstream summary(summary_file, std::ios::app);
        summary << chapter << ' ' << tp << ' ' << compared << ' ' << compared - mismatches - informational << ' '
                << mismatches << ' ' << missing << '\n';
        if (!summary) throw std::runtime_error("cannot append to --summary " + summary_file);
      }

      if (write_golden) {
        if (status != 0) {
          std::fflush(stdout);
          std::fprintf(stderr, "atp-compare: not writing a golden file: the GPU and the CPU disagree\n");
        } else {
          const fs::path file = sim::golden_path(golden_dir, chapter);
          sim::GoldenFile golden = fs::exists(file) ? sim::read_golden(file) : sim::GoldenFile{};
          golden.written_by = machine_description();
          golden.upsert(std::move(golden_entry));
          sim::write_golden(file, golden);
          std::printf("wrote %s (%s)\n", file.string().c_str(), golden.written_by.dump().c_str());
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-compare: %s\n", e.what());
    status = kExitRunFailed;
  }
  if (temporary) {
    std::error_code ec;
    fs::remove_all(work, ec);
  }
  return status;
}
