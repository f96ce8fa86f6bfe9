#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (CUDA too when
# nvcc is present) and runs the whole suite with ctest. Run it again and it
# rebuilds only what changed. GPU tests skip, and say so, on machines without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
cmake --workflow --preset test
