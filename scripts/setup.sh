#!/usr/bin/env bash
# Installs the Debian packages the book needs, and only those that are missing.
#
# Safe to run again: when everything is present it says so and changes nothing.
# The CUDA Toolkit 13 (nvcc, NCCL) is not a Debian package here: it is expected
# in /usr/local/cuda. Without it the CPU half still builds and the GPU tests skip.
set -euo pipefail

packages=(
  cmake ninja-build g++           # build
  libeigen3-dev                   # the simulator's tensors
  doctest-dev                     # tests
  libcli11-dev                    # chapter command lines
  nlohmann-json3-dev              # dump manifests, golden digests
  openmpi-bin libopenmpi-dev      # GPU workers under mpirun/srun (cuda/include/atp/cuda/mpi_world.hpp)
  libbenchmark-dev                # scripts/bench.sh
  doxygen graphviz                # the docs site
  doxygen-awesome-css chromium    # its theme; the headless check of the built site
  python3 python3-numpy python3-matplotlib          # notebooks
  jupyter-nbconvert python3-nbclient python3-ipykernel
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} Debian packages are already installed."
else
  echo "setup: installing ${#missing[@]} missing Debian package(s): ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  echo "setup: done."
fi

if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null 2>&1; then
  echo "setup: CUDA compiler found; the CUDA half will be compiled."
else
  echo "setup: no nvcc found (expected in /usr/local/cuda); only the CPU half will be built."
fi
