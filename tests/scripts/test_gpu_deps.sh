#!/usr/bin/env bash
# scripts/gpu-deps.sh packs relocatable header-only dependencies: pack into a
# temporary folder, MOVE it elsewhere (so nothing can still point at where it
# was made), then configure the book (CPU half) against it with CMake's
# system search paths switched off, and check that every package and every
# include path came from the moved folder.
#
# Usage: test_gpu_deps.sh SOURCE_DIR CMAKE GENERATOR
set -uo pipefail
src=$1 cmake=$2 generator=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

bash "$src/scripts/gpu-deps.sh" >/dev/null 2>&1 && fail "gpu-deps.sh without DIR must fail"
bash "$src/scripts/gpu-deps.sh" "$work/packed" || { echo "FAIL: gpu-deps.sh $work/packed failed"; exit 1; }
mv "$work/packed" "$work/moved"
deps=$work/moved

"$cmake" -S "$src" -B "$work/build" -G "$generator" -DATP_CUDA=OFF -DATP_BENCH=OFF -DATP_DOCS=OFF \
  -DCMAKE_PREFIX_PATH="$deps" -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; echo "FAIL: configure against the packed dependencies failed"; exit 1; }

for pkg in Eigen3 CLI11 nlohmann_json doctest; do
  dir=$(sed -n "s/^${pkg}_DIR:PATH=//p" "$work/build/CMakeCache.txt")
  [[ "$dir" == "$deps"/* ]] || fail "$pkg was found in '$dir', not in the packed folder $deps"
done
# Every dependency's include path is inside the packed folder: Eigen's is the
# telling one (/usr/include/eigen3 is on no default search path).
commands=$work/build/compile_commands.json
grep -q -- "-isystem $deps/include/eigen3" "$commands" || fail "no compile command includes $deps/include/eigen3"
grep -q -- "-isystem $deps/include " "$commands" || fail "no compile command includes $deps/include"
grep -q "/usr/include/eigen3" "$commands" && fail "a compile command still includes /usr/include/eigen3"
grep -rq '"/usr' "$deps/lib/cmake" "$deps/share" && fail "a packed CMake file still names /usr"

if [ "$failures" -ne 0 ]; then
  echo "test_gpu_deps: $failures check(s) failed"
  exit 1
fi
echo "test_gpu_deps: the packed dependencies configure the book from a moved folder with system paths off"
