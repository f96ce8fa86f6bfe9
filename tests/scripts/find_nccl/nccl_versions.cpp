/// \file nccl_versions.cpp
/// \brief Prints the NCCL version of the header it was compiled with and of
///        the library it runs with (tests/scripts/test_find_nccl.sh).
#include <nccl.h>

#include <cstdio>

int main() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return 1;
  std::printf("header %d library %d\n", NCCL_VERSION_CODE, v);
  return NCCL_VERSION_CODE == v ? 0 : 2;
}
