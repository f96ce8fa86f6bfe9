#!/usr/bin/env bash
# Re-executes every notebook in place, so the committed .ipynb files carry their
# outputs and plots (GitHub and the docs site show them as they are):
#   scripts/execute_notebooks.sh [BUILD_DIR]      (default: build; the chapter binaries must be built)
# Also redraws the chapter figures that notebooks draw (ATP_FIGURE). The test
# suite executes the notebooks again into the build folder and fails if a cell
# raises (notebooks/CMakeLists.txt), so a committed output can never hide an error.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
cd "$root/notebooks"
for nb in [0-9][0-9]-*.ipynb; do
  figure=""
  case "$nb" in
    01-*) figure="$root/chapters/01-ranks-and-collectives/figures/ranks-before-after.png" ;;
    03-*) figure="$root/chapters/03-row-parallel-linear/figures/ulp-histogram.png" ;;
    04-*) figure="$root/chapters/04-parallel-mlp/figures/what-each-rank-holds.png" ;;
    05-*) figure="$root/chapters/05-parallel-attention/figures/attention-probs.png" ;;
    06-*) figure="$root/chapters/06-vocab-parallel-embedding/figures/masks-and-partials.png" ;;
    11-*) figure="$root/chapters/11-bit-invariant-tp/figures/ulp-by-tp.png" ;;
    12-*) figure="$root/chapters/12-sequence-parallelism/figures/activation-memory.png" ;;
  esac
  echo "execute_notebooks.sh: $nb"
  PYDEVD_DISABLE_FILE_VALIDATION=1 ATP_SOURCE_DIR="$root" ATP_BUILD_DIR="$build" ATP_FIGURE="$figure" \
    /usr/bin/python3 -m jupyter nbconvert --to notebook --execute --inplace \
    --ExecutePreprocessor.timeout=300 "$nb"
done
