#!/usr/bin/env bash
# cmake/FindNCCL.cmake takes header and library from ONE install and refuses
# a pair of different versions. A fake pip layout (site-packages/nvidia/nccl/
# {include/nccl.h, lib/libnccl.so.2}, found through python3's `nvidia`
# package on PYTHONPATH) and this machine's NCCL are combined six ways, each
# configuring tests/scripts/find_nccl/ from scratch.
#
# Usage: test_find_nccl.sh SOURCE_DIR CMAKE NCCL_INCLUDE_DIR NCCL_LIBRARY CUDA_INCLUDE_DIR
#   (the NCCL the book itself found: the "system" NCCL of these scenarios)
set -uo pipefail
src=$1 cmake=$2 sys_inc=$3 sys_lib=$4 cuda_inc=$5
probe=$src/tests/scripts/find_nccl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

sys_root=$(cd "$sys_inc/.." && pwd)
sys_version=$(awk '/^#define NCCL_(MAJOR|MINOR|PATCH) /{v = v (v == "" ? "" : ".") $3} END {print v}' "$sys_inc/nccl.h")
real_lib=$(readlink -f "$sys_lib")
[ -n "$sys_version" ] && [ -f "$real_lib" ] || { echo "FAIL: no usable NCCL at $sys_inc and $sys_lib"; exit 1; }

# site/nvidia/nccl with a header (optionally claiming 2.99.0) and optionally the library.
make_pip() {  # make_pip SITE with_lib(0|1) bump(0|1)
  local pip=$1/nvidia/nccl
  mkdir -p "$pip/include"
  cp "$sys_inc/nccl.h" "$pip/include/nccl.h"
  if [ "$3" -eq 1 ]; then
    sed -i -e 's/^#define NCCL_MINOR .*/#define NCCL_MINOR 99/' -e 's/^#define NCCL_PATCH .*/#define NCCL_PATCH 0/' \
      -e 's/^#define NCCL_VERSION_CODE .*/#define NCCL_VERSION_CODE 29900/' "$pip/include/nccl.h"
  fi
  if [ "$2" -eq 1 ]; then
    mkdir -p "$pip/lib"
    ln -s "$real_lib" "$pip/lib/libnccl.so.2"  # pip ships libnccl.so.2 only, no libnccl.so
  fi
}

# configure NAME [cmake args...]: a fresh build of the probe; sets $rc, $log, $found.
configure() {
  local name=$1
  shift
  log=$work/$name.log
  found=$work/$name/found.txt
  "$cmake" -S "$probe" -B "$work/$name" -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF -DPROBE_CUDA_INCLUDE="$cuda_inc" "$@" \
    >"$log" 2>&1
  rc=$?
}
field() { sed -n "s/^$1=//p" "$found"; }

# A. pip's NCCL alone: found there, header and library from it, and a program
#    built with it runs from pip's folder without LD_LIBRARY_PATH.
make_pip "$work/siteA" 1 0
PYTHONPATH=$work/siteA configure A
pipA=$work/siteA/nvidia/nccl
if [ "$rc" -ne 0 ]; then fail "A: configure failed: $(tail -5 "$log")"; else
  [ "$(field include)" = "$pipA/include" ] || fail "A: include '$(field include)' is not pip's $pipA/include"
  [ "$(field library)" = "$pipA/lib/libnccl.so.2" ] || fail "A: library '$(field library)' is not pip's libnccl.so.2"
  [ "$(field library_version)" = "$sys_version" ] || fail "A: library version '$(field library_version)' != $sys_version"
  if "$cmake" --build "$work/A" >"$work/A-build.log" 2>&1; then
    out=$(env -u LD_LIBRARY_PATH "$work/A/nccl_versions") || fail "A: nccl_versions failed: $out"
    loaded=$(ldd "$work/A/nccl_versions")  # captured: grep -q in a pipe would SIGPIPE ldd under pipefail
    grep -q "=> $pipA/lib/libnccl.so.2" <<<"$loaded" ||
      fail "A: the program does not load pip's library: $(grep nccl <<<"$loaded")"
  else
    fail "A: the probe program did not build: $(tail -5 "$work/A-build.log")"
  fi
fi

# B. pip has a header but no library; the CUDA toolkit has both: both from the toolkit.
make_pip "$work/siteB" 0 1
PYTHONPATH=$work/siteB configure B -DCUDAToolkit_LIBRARY_ROOT="$sys_root"
[ "$rc" -eq 0 ] || fail "B: configure failed: $(tail -5 "$log")"
[ "$(field include)" = "$sys_inc" ] || fail "B: include '$(field include)' is not the toolkit's $sys_inc"
[[ "$(field library)" == "$sys_root"/* ]] || fail "B: library '$(field library)' is not under the toolkit $sys_root"

# C. pip's header alone and nothing else: not found, never paired with a stray library.
PYTHONPATH=$work/siteB configure C
[ "$(field found)" = "FALSE" ] || fail "C: a header without its library was accepted: $(cat "$found")"
grep -q "incomplete installs skipped.*nccl.h, no library" "$log" || fail "C: the skipped header is not reported"

# D. pip's header claims 2.99.0 but its library is $sys_version: a configure error naming both.
make_pip "$work/siteD" 1 1
PYTHONPATH=$work/siteD configure D
[ "$rc" -ne 0 ] || fail "D: a 2.99.0 header with a $sys_version library was accepted"
grep -q "header and library are different NCCL versions" "$log" && grep -q "says 2.99.0" "$log" &&
  grep -q "reports $sys_version" "$log" || fail "D: the mismatch message lacks the versions: $(tail -8 "$log")"

# E. The same mismatch set by hand (NCCL_INCLUDE_DIR of one, NCCL_LIBRARY of another).
configure E -DNCCL_INCLUDE_DIR="$work/siteD/nvidia/nccl/include" -DNCCL_LIBRARY="$sys_lib"
[ "$rc" -ne 0 ] && grep -q "says 2.99.0" "$log" || fail "E: a hand-set mismatched pair was accepted"

# F. NCCL_ROOT names an incomplete install: only that one is searched, and REQUIRED fails.
NCCL_ROOT=$work/siteB/nvidia/nccl PYTHONPATH=$work/siteA configure F -DPROBE_REQUIRED=ON
[ "$rc" -ne 0 ] && grep -q "NCCL_ROOT='$work/siteB/nvidia/nccl' does not hold both" <<<"$(tr -s ' \n' ' ' <"$log")" ||
  fail "F: an incomplete NCCL_ROOT did not fail clearly: $(tail -5 "$log")"

if [ "$failures" -ne 0 ]; then
  echo "test_find_nccl: $failures check(s) failed"
  exit 1
fi
echo "test_find_nccl: header and library always come from one install of one version ($sys_version here)"
