#!/usr/bin/env bash
# The tour: installs what is missing, builds the chapter binaries, and runs
# every chapter narrated on the CPU simulator at small sizes (default p=4).
#   scripts/tour.sh            # p = 4
#   TP=3 scripts/tour.sh       # another number of ranks (every chapter runs at p = 1, 2, 3, 4, 8)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset tour
scripts/tour-run.sh build "${TP:-4}"
