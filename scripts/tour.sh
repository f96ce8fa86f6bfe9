#!/usr/bin/env bash
# The tour: installs what is missing, builds the chapter binaries, and runs
# every chapter narrated on the CPU simulator at small sizes (default p=4).
#   scripts/tour.sh            # p = 4
#   TP=3 scripts/tour.sh       # another number of ranks
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset tour
tp="${TP:-4}"
for chapter in build/chapters/*/atp-ch[0-9][0-9]*; do
  [ -x "$chapter" ] || continue
  case "$chapter" in *-gpu) continue ;; esac   # the GPU halves run under atp-launch / atp-compare
  printf '\n==================== %s (tp=%s) ====================\n\n' "$(basename "$chapter")" "$tp"
  # Status 77: this tp does not fit the chapter's model (it printed why and the valid tp); go on.
  "$chapter" --tp "$tp" --narrate || { status=$?; [ "$status" -eq 77 ] || exit "$status"; echo "(skipped at tp=$tp)"; }
done
