# The compiler flags of the bitwise contract (NUMERICS.md section 1).
#
# They are set once, for every target in the tree, because any target may
# take part in a bitwise comparison. tests/test_contraction.cpp proves they
# are in effect: it finds a*b+c that differs from fma(a,b,c).
#
#   C++ : -ffp-contract=off (no implicit fma), never -ffast-math.
#   CUDA: --fmad=false (no implicit fma), never --use_fast_math, and the
#         defaults -prec-div=true -prec-sqrt=true -ftz=false spelled out.

function(_atp_refuse_fast_math var)
  if("${${var}}" MATCHES "fast-math|fast_math|-Ofast|fp-contract=fast|fmad=true")
    message(FATAL_ERROR "ATP: ${var}='${${var}}' breaks the bitwise contract "
                        "(NUMERICS.md section 1); remove the fast-math/contraction flag")
  endif()
endfunction()

macro(atp_apply_numerics_flags)
  foreach(v CMAKE_CXX_FLAGS CMAKE_CXX_FLAGS_RELEASE CMAKE_CXX_FLAGS_DEBUG
            CMAKE_CUDA_FLAGS CMAKE_CUDA_FLAGS_RELEASE CMAKE_CUDA_FLAGS_DEBUG)
    _atp_refuse_fast_math(${v})
  endforeach()
  add_compile_options(
    "$<$<COMPILE_LANGUAGE:CXX>:-ffp-contract=off;-fno-fast-math>"
    "$<$<COMPILE_LANGUAGE:CUDA>:--fmad=false;-prec-div=true;-prec-sqrt=true;-ftz=false;-Xcompiler=-ffp-contract=off>")
  if(ATP_NATIVE)
    # Wider vectors make the CPU matmul fast; every fma is explicit, so the
    # bits stay the same on any x86-64 (or other) CPU.
    add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-march=native>"
                        "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-march=native>")
  endif()
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-Wall;-Wextra;-Wpedantic>")
endmacro()
