#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (CUDA too when
# nvcc is present) and runs the whole suite with ctest. Run it again and it
# rebuilds only what changed. GPU tests skip, and say so, on machines without a GPU.
#
# Three stages, each a CMake workflow preset, each run even if an earlier one failed:
#   test    the release build and the whole suite (build/)
#   debug   the CPU suite again under AddressSanitizer + UBSan (build-debug/;
#           no CUDA, benchmarks, docs or notebooks: the release stage covers those)
#   fuzz    the libFuzzer targets of tests/fuzz, ATP_FUZZ_SECONDS each (default 20;
#           build-fuzz/, clang)
# ATP_STAGES="test debug" runs a subset. The script fails if any stage fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
stages=${ATP_STAGES:-test debug fuzz}
status=0
summary=()
for stage in $stages; do
  log="$logdir/$stage.log"
  start=$(date +%s)
  rc=0
  echo "test.sh: stage '$stage' (cmake --workflow --preset $stage)"
  cmake --workflow --preset "$stage" 2>&1 | tee "$log" || rc=$?
  seconds=$(( $(date +%s) - start ))
  skipped=$(grep -c '(Skipped)$' "$log" || true)
  gpu_skipped=$(grep '(Skipped)$' "$log" | grep -c 'gpu' || true)
  verdict=$([ "$rc" -eq 0 ] && echo passed || echo "FAILED (exit $rc)")
  line="$stage: $verdict in ${seconds}s"
  if [ "$skipped" -gt 0 ]; then
    line="$line; $skipped test(s) skipped, $gpu_skipped of them GPU tests (no usable CUDA device here; see their ATP-SKIP lines with ctest -V)"
  fi
  if [ "$stage" = fuzz ]; then
    # One line per fuzz target (tests/fuzz/run_fuzzer.cmake): runs and executions per second.
    while read -r report; do
      line="$line
    $report"
    done < <(grep -o 'ATP-FUZZ: .*' "$log" || true)
  fi
  summary+=("$line")
  [ "$rc" -eq 0 ] || status=$rc
done
echo
echo "test.sh summary:"
for line in "${summary[@]}"; do echo "  $line"; done
exit "$status"
