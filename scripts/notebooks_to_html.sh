#!/usr/bin/env bash
# Renders the committed, executed notebooks to HTML (no re-execution) into OUT_DIR:
#   scripts/notebooks_to_html.sh build/docs/html/notebooks
# The docs target calls it so the chapter pages can link each notebook with its
# outputs and plots. Skips, saying so, when nbconvert is missing.
set -euo pipefail
out="${1:?usage: scripts/notebooks_to_html.sh OUT_DIR}"
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! /usr/bin/python3 -c "import nbconvert" 2>/dev/null; then
  echo "notebooks_to_html.sh: nbconvert is not installed for /usr/bin/python3 (scripts/setup.sh installs it); no notebook pages"
  exit 0
fi
mkdir -p "$out"
/usr/bin/python3 -m jupyter nbconvert --to html --output-dir "$out" "$root"/notebooks/*.ipynb 2>&1 | grep -v '^\[NbConvertApp\] Writing' || true
ls "$out"/*.html >/dev/null
