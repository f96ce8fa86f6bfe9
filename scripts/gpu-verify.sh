#!/usr/bin/env bash
# On a machine with a GPU: builds atp-compare, runs every canonical
# configuration of every chapter with a GPU half on the CPU simulator and on
# the GPU, compares them bit for bit, and records the GPU's digests in
# tests/golden/chNN.json (only for configurations that match). The lead then
# reviews and commits tests/golden/. Never write those files by hand.
#
# Usage: scripts/gpu-verify.sh [BUILD_DIR]   (default: build)
# The canonical configurations must equal atp::sim::canonical_configs()
# (simulator/src/golden.cpp); test_golden fails if one lacks an entry.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build" -j"$(nproc)" --target atp-compare
compare="$build/cuda/atp-compare"
status=0
for p in 1 2 4; do
  "$compare" --chapter 0 --tp "$p" --n 1000 --seed 2026 --write-golden || status=$?
  "$compare" --chapter 1 --tp "$p" --rows 2 --cols 8 --seed 2026 --write-golden || status=$?
done
if [ "$status" -ne 0 ]; then
  echo "gpu-verify.sh: at least one configuration failed (last status $status); see the tables above." >&2
  exit "$status"
fi
echo "gpu-verify.sh: every configuration matched; golden files updated in tests/golden/."
