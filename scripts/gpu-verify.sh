#!/usr/bin/env bash
# The one command for a GPU machine: checks that a usable GPU is there (before
# building anything), configures with ATP_REQUIRE_GPU=ON for this machine's
# GPU, builds only what the comparison needs (gpu-verify-targets), smoke-tests
# NCCL with chapter 1 at p = 2, then runs every canonical configuration of
# every registered chapter (atp-compare --list-chapters) on the CPU simulator
# and on the GPU, compares them bit for bit and records the GPU's digests in
# tests/golden/chNN.json (only for configurations that match; review and
# commit them afterwards, never write them by hand).
#
# Usage: scripts/gpu-verify.sh [--out DIR] [--build DIR] [--jobs N] [--budget S] [--skip-build] [--assume-gpu]
#   --out DIR      logs and results (default BUILD/gpu-verify): verify.log (this output),
#                  build.log, smoke.log, compare.log, summary.tsv, golden.tgz
#   --build DIR    build folder (default build-gpu); --skip-build uses it as it is
#   --budget S     stop starting comparisons once fewer than ATP_RUN_TIMEOUT_S seconds of
#                  S are left (counted from the start), so the results are written before
#                  an outer time limit (a lent GPU machine's 600 s) ends the run
#   --assume-gpu   skip the GPU probe: only for testing this script without a GPU
# Environment: ATP_DEPS=DIR (header-only dependencies packed by scripts/gpu-deps.sh,
#   for machines without the Debian packages), ATP_CUDA_ARCH (default: native),
#   NCCL_ROOT (else FindNCCL's search, pip's NCCL included), ATP_GPU_SHARING
#   (auto|none|multi-rank|host-per-rank), ATP_RUN_TIMEOUT_S (per configuration, default 90).
# Exit status: 0 only if at least one configuration was compared, every one
# matched bitwise and none was skipped; 2 no usable GPU; 1 anything else.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=env.sh
source scripts/env.sh

build=build-gpu out="" jobs=$(nproc) skip_build=0 assume_gpu=0 budget=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --build) build=${2:?--build needs a folder}; shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    --budget) budget=${2:?--budget needs seconds}; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --assume-gpu) assume_gpu=1; shift ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "gpu-verify.sh: unknown argument '$1' (see --help)" >&2; exit 1 ;;
  esac
done
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "gpu-verify.sh: --jobs '$jobs' is not a positive number" >&2; exit 1; }
[[ "$budget" =~ ^[0-9]+$ ]] || { echo "gpu-verify.sh: --budget '$budget' is not a number of seconds" >&2; exit 1; }
run_timeout=${ATP_RUN_TIMEOUT_S:-90}
[[ "$run_timeout" =~ ^[1-9][0-9]*$ ]] && [ "$run_timeout" -ge 30 ] ||
  { echo "gpu-verify.sh: ATP_RUN_TIMEOUT_S='$run_timeout' must be a number of seconds >= 30" >&2; exit 1; }
case "${ATP_GPU_SHARING:-auto}" in
  auto | none | multi-rank | host-per-rank) ;;
  *) echo "gpu-verify.sh: ATP_GPU_SHARING='$ATP_GPU_SHARING'; valid: auto, none, multi-rank, host-per-rank" >&2; exit 1 ;;
esac

t_start=$SECONDS
t_step=$SECONDS
step() { echo "== $* ($((SECONDS - t_start)) s so far)"; t_step=$SECONDS; }
step_done() { echo "-- $1: $((SECONDS - t_step)) s"; }
die() { echo "gpu-verify.sh: $*" >&2; exit 1; }

# --- 0. A usable GPU, before anything is built -------------------------------------
no_gpu() {
  echo "gpu-verify.sh: no usable GPU: $*; nothing was built" >&2
  exit 2
}
probe_gpu() {
  command -v nvidia-smi >/dev/null || no_gpu "nvidia-smi is not on PATH (no NVIDIA driver on this machine)"
  local smi rc
  smi=$(timeout 30 nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_mode \
        --format=csv,noheader 2>&1 </dev/null)
  rc=$?
  [ "$rc" -eq 0 ] || no_gpu "nvidia-smi failed (exit $rc): $(head -1 <<<"$smi")"
  grep -q '[^[:space:]]' <<<"$smi" || no_gpu "nvidia-smi lists no GPU"
  echo "GPUs (index, name, driver, memory, compute mode):"
  sed 's/^/  /' <<<"$smi"
  grep -qi "exclusive" <<<"$smi" &&
    echo "note: a GPU is in an exclusive compute mode: several ranks cannot share it, so p > GPUs will fail"
  # The driver must load and run this toolkit's code: cuInit through ctypes, no build needed.
  if command -v python3 >/dev/null; then
    local drv
    drv=$(timeout 60 python3 - <<'PY' 2>&1
import ctypes, sys
try:
    cuda = ctypes.CDLL("libcuda.so.1")
except OSError as e:
    sys.exit(f"libcuda.so.1 cannot be loaded ({e})")
rc = cuda.cuInit(0)
if rc != 0:
    sys.exit(f"cuInit failed with CUDA error {rc}")
n, v = ctypes.c_int(0), ctypes.c_int(0)
cuda.cuDeviceGetCount(ctypes.byref(n))
cuda.cuDriverGetVersion(ctypes.byref(v))
print(n.value, v.value)
PY
    ) || no_gpu "the CUDA driver is not usable: $(tail -1 <<<"$drv")"
    local count=${drv% *} driver=${drv#* }
    [ "$count" -ge 1 ] 2>/dev/null || no_gpu "the CUDA driver sees no device"
    local nvcc_release want
    nvcc_release=$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
    if [ -n "$nvcc_release" ]; then
      want=$(awk '{print $1 * 1000 + $2 * 10}' <<<"$nvcc_release")
      [ "$driver" -ge "$want" ] ||
        no_gpu "the driver supports CUDA $((driver / 1000)).$(((driver % 1000) / 10)) but nvcc is $(tr ' ' . <<<"$nvcc_release"): its binaries would not run"
    fi
    echo "CUDA driver: $count device(s), CUDA $((driver / 1000)).$(((driver % 1000) / 10))"
  else
    echo "note: no python3, so the CUDA driver was not probed beyond nvidia-smi"
  fi
}

# Without a GPU the only output is the one line of no_gpu().
if [ "$assume_gpu" -eq 1 ]; then
  probe_text="--assume-gpu: the GPU probe is skipped (testing this script only)"
else
  probe_text=$(probe_gpu) || exit $?
fi

[ -n "$out" ] || out=$build/gpu-verify
mkdir -p "$out" || die "cannot create --out $out"
out=$(cd "$out" && pwd)
mkdir -p "$build" || die "cannot create --build $build"
build=$(cd "$build" && pwd)
# Everything printed from here on is also in OUT/verify.log; at exit tee is
# waited for, so the log is complete when the caller collects OUT.
exec > >(tee "$out/verify.log") 2>&1
tee_pid=$!
trap 'exec >&- 2>&-; wait "$tee_pid" 2>/dev/null' EXIT
echo "gpu-verify.sh: build $build, results $out, $jobs jobs, $(nproc) CPU cores, per-run timeout $run_timeout s"
echo "tools: $(cmake --version | head -1); $(nvcc --version 2>/dev/null | tail -1 || echo 'no nvcc'); $(g++ --version | head -1)"
echo "== 0. GPU probe: passed in $((SECONDS - t_start)) s"
echo "$probe_text"

# --- 1-2. Configure and build only what the comparison needs --------------------------
if [ "$skip_build" -eq 0 ]; then
  step "1. configure (ATP_REQUIRE_GPU=ON, CUDA arch ${ATP_CUDA_ARCH:-native}${ATP_DEPS:+, deps $ATP_DEPS})"
  command -v nvcc >/dev/null || die "nvcc is not on PATH even after scripts/env.sh; install the CUDA toolkit"
  config=(-DCMAKE_BUILD_TYPE=Release -DATP_REQUIRE_GPU=ON -DATP_BENCH=OFF -DATP_DOCS=OFF
          "-DCMAKE_CUDA_ARCHITECTURES=${ATP_CUDA_ARCH:-native}")
  if [ -n "${ATP_DEPS:-}" ]; then
    [ -d "$ATP_DEPS" ] || die "ATP_DEPS='$ATP_DEPS' is not a folder (make one with scripts/gpu-deps.sh)"
    config+=("-DCMAKE_PREFIX_PATH=$(cd "$ATP_DEPS" && pwd)")
  fi
  generator=()
  [ -f "$build/CMakeCache.txt" ] || { command -v ninja >/dev/null && generator=(-G Ninja); }
  cmake -S "$root" -B "$build" "${generator[@]}" "${config[@]}" >"$out/build.log" 2>&1 </dev/null ||
    { tail -25 "$out/build.log"; die "configure failed (build.log)"; }
  grep -E "CUDA compiler identification|FindNCCL:|ATP: MPI" "$out/build.log" | sed 's/^-- /  /'
  step_done "configure"

  step "2. build gpu-verify-targets (-j$jobs)"
  cmake --build "$build" --target gpu-verify-targets -j "$jobs" >>"$out/build.log" 2>&1 </dev/null ||
    { grep -m 20 -B 2 -A 6 -E "error|Error" "$out/build.log"; die "the build failed (build.log)"; }
  step_done "build"
else
  step "1-2. --skip-build: using $build as it is"
fi

# --- 3. Every program the runs need exists ------------------------------------------
list_file=$build/gpu-verify-programs.txt
[ -f "$list_file" ] || die "$list_file is missing: $build was not configured with the CUDA half and NCCL"
mapfile -t programs <"$list_file"
missing=()
for p in "${programs[@]}"; do
  [ -n "$p" ] && { [ -f "$p" ] && [ -x "$p" ] || missing+=("$p"); }
done
[ "${#missing[@]}" -eq 0 ] || die "missing program(s): ${missing[*]}"
find_program() { printf '%s\n' "${programs[@]}" | grep -m 1 -E "$1" || true; }
launch=$(find_program '/atp-launch$')
compare=$(find_program '/atp-compare$')
ch01_gpu=$(find_program '/atp-ch01-[^/]*-gpu$')
[ -n "$launch" ] || die "atp-launch is not in $list_file"
[ -n "$compare" ] || die "atp-compare is not in $list_file"
echo "${#programs[@]} programs present (atp-launch, atp-compare, the chapters' CPU binaries and GPU workers)"

chapters=$("$compare" --list-chapters </dev/null) || die "atp-compare --list-chapters failed"
[ -n "$chapters" ] || die "atp-compare lists no chapters"
echo "registered chapters and their p: $(tr '\n' ';' <<<"$chapters")"

# --- 4. Smoke: chapter 1 at p = 2 with NCCL's own log -----------------------------------
step "4. smoke: chapter 1, p = 2, NCCL_DEBUG=INFO (smoke.log)"
ranked_ok=1 ranked_reason=""
if [ -z "$ch01_gpu" ]; then
  ranked_ok=0 ranked_reason="no chapter 1 GPU worker to smoke-test NCCL with"
else
  NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=INIT,ENV,NET ATP_NCCL_TIMEOUT_S=60 \
    timeout 120 "$launch" -p 2 --timeout 100 -- "$ch01_gpu" --tp 2 >"$out/smoke.log" 2>&1 </dev/null
  smoke=$?
  grep -m 3 -E "atp-launch: [0-9]+ rank|NCCL version|NCCL INFO Using network" "$out/smoke.log" | sed 's/^/  /'
  if [ "$smoke" -ne 0 ]; then
    why=$(grep -m 1 -E "Duplicate GPU|Multiple Ranks|same GPU" "$out/smoke.log" ||
          grep -m 1 -E "NCCL WARN|no CUDA device|atp-launch: rank [0-9]+ .*exited|Communicator: " "$out/smoke.log" ||
          tail -1 "$out/smoke.log")
    [ "$smoke" -eq 124 ] && why="timed out after 120 s (NCCL init or a collective hung); last line: $why"
    ranked_ok=0 ranked_reason="smoke test failed (exit $smoke): $why"
    echo "smoke: FAILED: $why"
    echo "smoke: every configuration with p > 1 is skipped; ATP_GPU_SHARING=host-per-rank or multi-rank may help"
  else
    echo "smoke: passed"
  fi
fi
step_done "smoke"

# --- 5. Every configuration, compared and recorded --------------------------------------
step "5. compare every registered configuration (compare.log)"
summary=$out/summary.tsv
printf 'chapter\tp\ttensors\tbitwise_equal\tseconds\tresult\n' >"$summary"
raw=$out/.compare-summary
: >"$raw"
: >"$out/compare.log"
compared=0 matched=0 failed=0 skipped=0
declare -A timeouts=()
while read -r ch ps; do
  for p in $ps; do
    if [ "$p" -gt 1 ] && [ "$ranked_ok" -eq 0 ]; then
      printf '%s\t%s\t-\tskipped\t0\t%s\n' "$ch" "$p" "$ranked_reason" >>"$summary"
      skipped=$((skipped + 1))
      continue
    fi
    if [ "$budget" -gt 0 ] && [ $((SECONDS - t_start + run_timeout)) -gt "$budget" ]; then
      printf '%s\t%s\t-\tskipped\t0\tout of time (--budget %s s)\n' "$ch" "$p" "$budget" >>"$summary"
      skipped=$((skipped + 1))
      continue
    fi
    if [ "${timeouts[$p]:-0}" -ge 2 ]; then
      printf '%s\t%s\t-\tskipped\t0\tp=%s timed out twice already\n' "$ch" "$p" "$p" >>"$summary"
      skipped=$((skipped + 1))
      continue
    fi
    t0=$SECONDS
    before=$(wc -l <"$raw")
    echo "### chapter $ch, p = $p" >>"$out/compare.log"
    NCCL_DEBUG=${NCCL_DEBUG:-WARN} ATP_NCCL_TIMEOUT_S=${ATP_NCCL_TIMEOUT_S:-60} \
      timeout "$run_timeout" "$compare" --chapter "$((10#$ch))" --tp "$p" --timeout "$((run_timeout - 20))" \
      --write-golden --summary "$raw" >>"$out/compare.log" 2>&1 </dev/null
    rc=$?
    secs=$((SECONDS - t0))
    line=""
    [ "$(wc -l <"$raw")" -gt "$before" ] && line=$(tail -1 "$raw")
    read -r _ _ tensors equal mism miss <<<"${line:-- - - - - -}"
    if [ "$rc" -eq 0 ] && [ -n "$line" ] && [ "$tensors" -gt 0 ] && [ "$mism" -eq 0 ] && [ "$miss" -eq 0 ]; then
      result="matched" verdict=yes
      compared=$((compared + 1)) matched=$((matched + 1))
    elif [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then
      # rc 0 without a summary line, or with no tensor, compared nothing: never a pass.
      result=$([ "$rc" -eq 1 ] && echo "$mism mismatching, $miss missing" || echo "nothing compared")
      verdict=NO
      [ -n "$line" ] && compared=$((compared + 1))
      failed=$((failed + 1))
    else
      case "$rc" in
        124) result="timed out after $run_timeout s"; timeouts[$p]=$((${timeouts[$p]:-0} + 1)) ;;
        2) result="no GPU (exit 2)" ;;
        *) result="run failed (exit $rc)" ;;
      esac
      verdict=NO
      failed=$((failed + 1))
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ch" "$p" "$tensors" "$verdict" "$secs" "$result" >>"$summary"
    echo "chapter $ch p=$p: $result ($secs s)"
  done
done <<<"$chapters"
rm -f "$raw"
step_done "compare"

# --- 6. Results --------------------------------------------------------------------------
tar czf "$out/golden.tgz" -C "$root" tests/golden || die "cannot pack tests/golden"
echo
column -t -s $'\t' "$summary" 2>/dev/null || cat "$summary"
echo
echo "gpu-verify.sh: $compared configuration(s) compared, $matched matched bitwise, $failed failed, $skipped skipped;" \
     "$((SECONDS - t_start)) s in all; results in $out"
if [ "$compared" -eq 0 ]; then
  echo "gpu-verify.sh: FAILED: no configuration was compared" >&2
  exit 1
fi
# The READMEs' "verified on a GPU" lines follow the digests written above (bring them back with
# golden.tgz and rerun `python3 scripts/gpu_status.py --write` in the checkout that commits them).
python3 scripts/gpu_status.py --write || echo "gpu-verify.sh: could not update the README status lines" >&2
if [ "$failed" -ne 0 ] || [ "$skipped" -ne 0 ]; then
  echo "gpu-verify.sh: FAILED: see summary.tsv, compare.log and smoke.log" >&2
  exit 1
fi
echo "gpu-verify.sh: every configuration matched; golden files updated in tests/golden/ (also in golden.tgz), README status lines too."
