#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (CUDA too when
# nvcc is present) and runs the whole suite with ctest. Run it again and it
# rebuilds only what changed. GPU tests skip, and say so, on machines without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cmake --workflow --preset test 2>&1 | tee "$log" || status=$?
skipped=$(grep -c '(Skipped)$' "$log" || true)
gpu_skipped=$(grep '(Skipped)$' "$log" | grep -c 'gpu' || true)
if [ "$skipped" -gt 0 ]; then
  echo "test.sh: $skipped test(s) skipped, $gpu_skipped of them GPU tests (no usable CUDA device here; see their ATP-SKIP lines with ctest -V)."
fi
exit "$status"
