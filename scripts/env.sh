# Sourced by the scripts: puts the CUDA toolkit on PATH when it is in its
# standard place, so CMake finds nvcc the same way on every machine.
if [ -x /usr/local/cuda/bin/nvcc ]; then
  case ":$PATH:" in *":/usr/local/cuda/bin:"*) ;; *) export PATH="/usr/local/cuda/bin:$PATH" ;; esac
fi
# Notebooks run on Debian's Python, whose packages setup.sh installs.
export ATP_PYTHON=/usr/bin/python3
