#!/usr/bin/env bash
# The benchmark command: builds bench_matmul (Release, in ./build or $BUILD_DIR)
# and times the deterministic CPU matmul against Eigen's GEMM, on one thread
# and on all cores (ATP_THREADS sets "all"; ATP_MATMUL_KERNEL forces a kernel).
#
#   scripts/bench.sh                               # 5 repetitions, medians
#   BUILD_DIR=build-rel scripts/bench.sh --benchmark_filter=1024
#
# Arguments go to Google Benchmark after the defaults below, so they win.
# The last line printed is `matmul vs Eigen: <ratio>` (1024^3, A B^T, 1 thread).
# Other work on the machine makes the numbers noisy: run it when `uptime`
# shows a low load, more than once, and quote the range.
# Only bench_matmul and what it links are built. See bench/README.md.
#   BENCH=bench_invariant scripts/bench.sh         # chapter 11: the tree order's price, time ratios
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f scripts/env.sh ]; then source scripts/env.sh; fi
if [ -x scripts/setup.sh ]; then scripts/setup.sh; fi   # idempotent: installs only what is missing

build_dir="${BUILD_DIR:-build}"
bench="${BENCH:-bench_matmul}"
case "$bench" in bench_matmul|bench_invariant) ;; *) echo "bench.sh: BENCH=$bench is not a benchmark; valid: bench_matmul, bench_invariant" >&2; exit 2 ;; esac
generator=()
# An existing build directory keeps its generator; a new one gets Ninja if present.
if [ ! -f "$build_dir/CMakeCache.txt" ] && command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
fi
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DATP_BENCH=ON
cmake --build "$build_dir" --target "$bench" -j "$(nproc)"

# Repetitions, randomly interleaved so that load from other processes hits
# both libraries alike; the table reports medians.
exec "$build_dir/bench/$bench" \
  --benchmark_repetitions=5 \
  --benchmark_enable_random_interleaving=true \
  --benchmark_report_aggregates_only=true \
  "$@"
