#!/usr/bin/env bash
# Packs the header-only dependencies (Eigen, CLI11, nlohmann-json, doctest)
# with their CMake config files from this machine's Debian packages into DIR,
# laid out like a prefix (DIR/include, DIR/share, DIR/lib), so that a machine
# without those packages (a bare GPU machine: CUDA and pip's NCCL only) can
# configure the book with CMAKE_PREFIX_PATH=DIR. scripts/gpu-verify.sh does
# that when ATP_DEPS=DIR is set.
#
# The configs must work wherever DIR is copied to: Eigen's, CLI11's and
# nlohmann-json's already compute their prefix from their own location;
# Debian's doctest hard-codes `set(_IMPORT_PREFIX "/usr")`, which is rewritten
# relative to the file. Any other absolute /usr left in a copied config is an
# error, so a DIR that would still read this machine's /usr is never made.
#
# Usage: scripts/gpu-deps.sh DIR        (about 12 MiB; DIR is created or refreshed)
# Leaves out: NCCL and CUDA (the GPU machine brings its own), Google Benchmark
# and Doxygen (gpu-verify builds with ATP_BENCH=OFF and ATP_DOCS=OFF).
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR   (packs Eigen, CLI11, nlohmann-json and doctest headers and CMake configs into DIR)" >&2
  exit 2
fi
out=$1
prefix=${ATP_DEPS_FROM:-/usr}   # where the Debian packages put them

# package config-file header-folders...
packages=(
  "Eigen3 Eigen3Config.cmake eigen3"
  "CLI11 CLI11Config.cmake CLI"
  "nlohmann_json nlohmann_jsonConfig.cmake nlohmann"
  "doctest doctestConfig.cmake doctest"
)

mkdir -p "$out"
out=$(cd "$out" && pwd)
case "$out" in "$prefix" | "$prefix"/include | /) echo "gpu-deps: refusing to pack into $out" >&2; exit 2 ;; esac

for entry in "${packages[@]}"; do
  read -r name config headers <<<"$entry"
  found=$(find "$prefix/share" "$prefix/lib" -maxdepth 5 -name "$config" -print -quit 2>/dev/null || true)
  if [ -z "$found" ]; then
    echo "gpu-deps: $name's $config not found under $prefix/share or $prefix/lib; install it (scripts/setup.sh)" >&2
    exit 1
  fi
  cfg_dir=$(dirname "$found")
  rel=${cfg_dir#"$prefix"/}                     # e.g. share/eigen3/cmake
  if [ ! -d "$prefix/include/$headers" ]; then
    echo "gpu-deps: $name's headers $prefix/include/$headers not found" >&2
    exit 1
  fi
  rm -rf "${out:?}/$rel" "${out:?}/include/$headers"
  mkdir -p "$out/$rel" "$out/include"
  cp -r "$cfg_dir/." "$out/$rel/"
  cp -r "$prefix/include/$headers" "$out/include/"

  # A hard-coded prefix becomes "this file's folder, N levels up".
  depth=$(awk -F/ '{print NF}' <<<"$rel")
  up=$(printf '/..%.0s' $(seq "$depth"))
  for f in "$out/$rel"/*.cmake; do
    if grep -q "^set(_IMPORT_PREFIX \"$prefix\")" "$f"; then
      sed -i "s|^set(_IMPORT_PREFIX \"$prefix\")|get_filename_component(_IMPORT_PREFIX \"\${CMAKE_CURRENT_LIST_DIR}$up\" ABSOLUTE)|" "$f"
      echo "gpu-deps: $name: made $(basename "$f")'s prefix relative to the file"
    fi
  done
  version=$(dpkg-query -W -f='${Version}' "$(dpkg -S "$found" 2>/dev/null | cut -d: -f1 | head -1)" 2>/dev/null || echo unknown)
  printf '%s %s (%s, headers include/%s)\n' "$name" "$version" "$rel" "$headers" >>"$out/.packed.tmp"
done

# No copied config may still point into this machine's prefix.
if grep -rlE "\"$prefix/(include|share|lib)|_IMPORT_PREFIX \"$prefix\"" "$out/share" "$out/lib" 2>/dev/null; then
  echo "gpu-deps: the files above still name $prefix; they would not work on another machine" >&2
  exit 1
fi
{
  echo "Packed by scripts/gpu-deps.sh on $(hostname) from $prefix; use with CMAKE_PREFIX_PATH=<this folder> (ATP_DEPS)."
  cat "$out/.packed.tmp"
} >"$out/PACKED.txt"
rm -f "$out/.packed.tmp"
cat "$out/PACKED.txt"
echo "gpu-deps: $(du -sh "$out" | cut -f1) in $out"
