#!/usr/bin/env bash
# Runs every CPU chapter binary narrated, as the tour does, at each p given:
#   scripts/tour-run.sh BUILD_DIR [P ...]      (default P: 4)
# scripts/tour.sh calls it after building; the ctest test tour_every_p runs it
# for p in 1 2 3 4 8, so every chapter's defaults must admit each of them.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: scripts/tour-run.sh BUILD_DIR [P ...]" >&2
  exit 2
fi
build="$1"; shift
[ $# -gt 0 ] || set -- 4
for tp in "$@"; do
  case "$tp" in
    ''|*[!0-9]*) echo "tour-run.sh: p must be a positive integer, got '$tp'" >&2; exit 2 ;;
  esac
done
found=0
for tp in "$@"; do
  for chapter in "$build"/chapters/*/atp-ch[0-9][0-9]*; do
    [ -x "$chapter" ] || continue
    case "$chapter" in *-gpu) continue ;; esac   # the GPU halves run under atp-launch / atp-compare
    found=$((found + 1))
    printf '\n==================== %s (tp=%s) ====================\n\n' "$(basename "$chapter")" "$tp"
    # Status 77: this p does not fit the chapter's model; it printed why and the valid p. Go on.
    status=0
    "$chapter" --tp "$tp" --narrate || status=$?
    if [ "$status" -eq 77 ]; then
      echo "(skipped at tp=$tp)"
    elif [ "$status" -ne 0 ]; then
      echo "tour-run.sh: $(basename "$chapter") failed at tp=$tp (exit $status)" >&2
      exit 1
    fi
  done
done
if [ "$found" -eq 0 ]; then
  echo "tour-run.sh: no chapter binaries under $build/chapters; build the 'tour' target first" >&2
  exit 1
fi
