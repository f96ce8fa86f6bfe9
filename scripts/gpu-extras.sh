#!/usr/bin/env bash
# What a GPU session does after scripts/gpu-verify.sh, reusing its build folder:
#   1. the first timings: the canonical-order matmul kernel vs cuBLAS SGEMM with
#      TF32 off (atp-gpu-matmul-timing), and chapter 1's three all-reduce forms
#      (its GPU worker's --bench) at p = 2 and 4, ranks sharing the one GPU; and,
#      where chapter 10 is built, its predicted per-kernel times against cuBLAS's
#      measured ones for this GPU (atp-ch10-kernel-times-gpu);
#   2. compute-sanitizer memcheck and racecheck on chapter 5's GPU worker at p = 1;
#   3. the GPU test suite, ctest -L gpu, with the time that is left.
# Every step runs under its own time limit and is skipped, saying so, when the
# budget would be exceeded, so the logs are written before an outer limit.
#
# Usage: scripts/gpu-extras.sh [--build DIR] [--out DIR] [--budget S] [--steps LIST]
#   --build DIR   the build folder gpu-verify.sh configured (default build-gpu)
#   --out DIR     extras.log (everything) and timings.txt (the two tables)
#   --budget S    seconds this script may take in all (default 300)
#   --steps LIST  which of timings,tests,sanitizer to run (default all three)
# Exit status: 0 if at least one check ran and every step that ran passed (skipped steps are
# listed), 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh

build=build-gpu out="" budget=300 steps=timings,tests,sanitizer
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=${2:?--build needs a folder}; shift 2 ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --budget) budget=${2:?--budget needs seconds}; shift 2 ;;
    --steps) steps=${2:?--steps needs a list}; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "gpu-extras.sh: unknown argument '$1' (see --help)" >&2; exit 1 ;;
  esac
done
[[ "$budget" =~ ^[1-9][0-9]*$ ]] || { echo "gpu-extras.sh: --budget '$budget' is not a positive number of seconds" >&2; exit 1; }
for s in ${steps//,/ }; do
  case "$s" in timings | tests | sanitizer) ;; *) echo "gpu-extras.sh: --steps '$steps': '$s' is not one of timings, tests, sanitizer" >&2; exit 1 ;; esac
done
wants() { [[ ",$steps," == *",$1,"* ]]; }
[ -f "$build/CMakeCache.txt" ] || { echo "gpu-extras.sh: $build is not configured; run scripts/gpu-verify.sh first" >&2; exit 1; }
[ -n "$out" ] || out=$build/gpu-extras
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
exec > >(tee "$out/extras.log") 2>&1
tee_pid=$!
trap 'exec >&- 2>&-; wait "$tee_pid" 2>/dev/null' EXIT

t_start=$SECONDS
failed=() skipped=()
left() { echo $((budget - (SECONDS - t_start))); }
# step NAME SECONDS: true when NAME may start with SECONDS of its own; else records it skipped.
step() {
  if [ "$(left)" -lt "$2" ]; then
    echo "== $1: skipped, $(left) s left of --budget $budget, it needs up to $2 s"
    skipped+=("$1")
    return 1
  fi
  echo "== $1 ($((SECONDS - t_start)) s so far)"
}
passed=0
verdict() {  # verdict NAME RC
  if [ "$2" -eq 0 ]; then echo "-- $1: passed"; passed=$((passed + 1)); else echo "-- $1: FAILED (exit $2)"; failed+=("$1"); fi
}

gpu_worker() { find "$build/chapters" -maxdepth 2 -type f -name "$1" -perm -u+x | head -1; }
launch=$build/cuda/atp-launch
ch01_gpu=$(gpu_worker 'atp-ch01-*-gpu')
ch05_gpu=$(gpu_worker 'atp-ch05-*-gpu')

if step "build the timing tool and the GPU tests" 60; then
  # The test executables by target name: ctest -N lists nothing before they are built (each
  # executable's cases are discovered after its build).
  targets=$(cmake --build "$build" --target help 2>/dev/null)
  gpu_tests=()
  wants tests && mapfile -t gpu_tests < <(grep -oE '\btest_gpu_[A-Za-z0-9_]*' <<<"$targets" | sort -u)
  echo "GPU test executables: ${gpu_tests[*]:-none}"
  optional=()
  for t in atp-ch10-where-the-time-goes atp-ch10-kernel-times-gpu; do
    grep -q "$t" <<<"$targets" && optional+=("$t")
  done
  timeout $(( $(left) - 30 )) cmake --build "$build" --target atp-gpu-matmul-timing "${gpu_tests[@]}" "${optional[@]}" -j "$(nproc)" \
    >"$out/build-extras.tmp" 2>&1 </dev/null
  rc=$?
  [ "$rc" -eq 0 ] || grep -m 20 -B 2 -A 6 -E "error|Error" "$out/build-extras.tmp"
  rm -f "$out/build-extras.tmp"
  verdict "build" "$rc"
fi

{
  echo "# GPU timings ($(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null))"
  echo "# written by scripts/gpu-extras.sh on $(date -u +%Y-%m-%dT%H:%MZ)"
} >"$out/timings.txt"
if wants timings && step "timing: canonical-order matmul vs cuBLAS SGEMM (TF32 off)" 90; then
  NVIDIA_TF32_OVERRIDE=0 timeout 90 "$build/cuda/atp-gpu-matmul-timing" --repeats 15 </dev/null | tee -a "$out/timings.txt"
  verdict "matmul timing" "${PIPESTATUS[0]}"
fi
for p in 2 4; do
  if wants timings && [ -n "$ch01_gpu" ] && step "timing: chapter 1's all-reduce forms at p = $p (ranks share one GPU: the mechanism, not NVLink)" 60; then
    echo -e "\n# chapter 1 --bench, p = $p ranks on ONE GPU (loopback sockets when NCCL < 2.30: the mechanism, not NVLink)" >>"$out/timings.txt"
    timeout 60 "$launch" -p "$p" --timeout 55 -- "$ch01_gpu" --tp "$p" --bench </dev/null | tee -a "$out/timings.txt"
    verdict "all-reduce timing p=$p" "${PIPESTATUS[0]}"
  fi
done

ch10=$(gpu_worker 'atp-ch10-where-the-time-goes') ch10_gpu=$(gpu_worker 'atp-ch10-kernel-times-gpu')
if wants timings && [ -n "$ch10" ] && [ -n "$ch10_gpu" ] && step "timing: chapter 10's predicted kernel times vs measured (h200-sxm)" 60; then
  echo -e "\n# chapter 10: predicted vs measured bf16 GEMM times (--section kernels --hw h200-sxm)" >>"$out/timings.txt"
  timeout 20 "$ch10" --section kernels --hw h200-sxm >"$out/predicted.tmp" </dev/null &&
    timeout 30 "$ch10_gpu" "$out/predicted.tmp" >"$out/measured.tmp" </dev/null &&
    timeout 10 "$ch10" --section kernels --hw h200-sxm --measured "$out/measured.tmp" </dev/null | tee -a "$out/timings.txt"
  verdict "chapter 10 kernel times" "$?"
  rm -f "$out/predicted.tmp" "$out/measured.tmp"
fi


if ! wants sanitizer; then
  :
elif [ -n "$ch05_gpu" ] && command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck; do
    if step "compute-sanitizer --tool $tool, chapter 5's GPU worker at p = 1" 45; then
      # The verdict counts the device's own errors (memory, races); errors that CUDA API calls
      # return inside NCCL's set-up (which NCCL handles) are listed apart, the first few in full.
      timeout 45 "$launch" -p 1 --timeout 40 -- compute-sanitizer --tool "$tool" --report-api-errors no \
        --error-exitcode 9 "$ch05_gpu" --tp 1 </dev/null >"$out/sanitizer.tmp" 2>&1
      rc=$?
      grep -E "SUMMARY|Invalid|Race|Hazard|hazard|Uninitialized|Leak" "$out/sanitizer.tmp" | head -20
      verdict "compute-sanitizer $tool" "$rc"
      if [ "$tool" = memcheck ]; then
        echo "   CUDA API errors seen by memcheck (--report-api-errors explicit), not counted above:"
        timeout 45 "$launch" -p 1 --timeout 40 -- compute-sanitizer --tool memcheck "$ch05_gpu" --tp 1 </dev/null 2>&1 |
          grep -E -A3 "Program hit|ERROR SUMMARY" | grep -v "Host Frame" | head -20
      fi
      rm -f "$out/sanitizer.tmp"
    fi
  done
else
  echo "== compute-sanitizer: not run (${ch05_gpu:+no compute-sanitizer on PATH}${ch05_gpu:-no chapter 5 GPU worker})"
  skipped+=("compute-sanitizer")
fi

if wants tests && step "ctest -L gpu (with the time left)" 60; then
  t=$(( $(left) - 5 ))
  timeout "$t" ctest --test-dir "$build" -L gpu -j 4 --timeout 120 --output-on-failure --no-tests=error </dev/null
  verdict "ctest -L gpu" "$?"
fi

echo
echo "gpu-extras.sh: $((SECONDS - t_start)) s; passed: $passed; failed: ${failed[*]:-none}; skipped: ${skipped[*]:-none}"
# Only the build passing checks nothing: a success needs at least one timing, sanitizer or test step.
if [ "$passed" -le 1 ] && [ "${#failed[@]}" -eq 0 ]; then
  echo "gpu-extras.sh: FAILED: no check ran (every step was skipped)" >&2
  exit 1
fi
[ "${#failed[@]}" -eq 0 ]
