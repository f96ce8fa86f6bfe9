#!/usr/bin/env bash
# Executes one notebook headless, as the test suite does:
#   scripts/run_notebook.sh notebooks/01-ranks-and-collectives.ipynb BUILD_DIR
# Prints "ATP-SKIP: ..." (ctest counts it as skipped) when Jupyter is missing.
set -euo pipefail
nb="$1"; build="$(cd "$2" && pwd)"
root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3
if ! "$py" -c "import nbconvert, nbclient, ipykernel, numpy, matplotlib" 2>/dev/null; then
  echo "ATP-SKIP: Jupyter (nbconvert, nbclient, ipykernel) with numpy and matplotlib is not installed for $py; run scripts/setup.sh"
  exit 0
fi
out="$build/notebooks"
mkdir -p "$out"
cd "$root/notebooks"
PYDEVD_DISABLE_FILE_VALIDATION=1 ATP_SOURCE_DIR="$root" ATP_BUILD_DIR="$build" \
  "$py" -m jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=300 \
  --output-dir "$out" "$root/$nb"
