#!/usr/bin/env bash
# On a machine with a GPU: builds everything, runs every canonical
# configuration of every chapter with a GPU half (the chapter registry,
# simulator/src/chapter_registry.cpp) on the CPU simulator and on the GPU,
# compares them bit for bit, and records the GPU's digests in
# tests/golden/chNN.json (only for configurations that match). Review and
# commit tests/golden/ afterwards. Never write those files by hand.
#
# Usage: scripts/gpu-verify.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build" -j"$(nproc)"
compare="$build/cuda/atp-compare"
status=0
while read -r chapter ps; do
  for p in $ps; do
    "$compare" --chapter "$((10#$chapter))" --tp "$p" --write-golden || status=$?
  done
done < <("$compare" --list-chapters)
if [ "$status" -ne 0 ]; then
  echo "gpu-verify.sh: at least one configuration failed (last status $status); see the tables above." >&2
  exit "$status"
fi
/usr/bin/python3 scripts/gpu_status.py --write   # the READMEs' "verified on a GPU" lines follow the digests
echo "gpu-verify.sh: every configuration matched; golden files updated in tests/golden/, README status lines too."
