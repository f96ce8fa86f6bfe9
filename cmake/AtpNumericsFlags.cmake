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
    # The CPU matmul picks its AVX2/AVX-512 kernel at run time and does not
    # need this; it makes the rest faster (std::fma becomes one instruction
    # instead of a libm call, Eigen uses the widest vectors). Every fma is
    # explicit, so the bits stay the same on any x86-64 (or other) CPU.
    add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-march=native>"
                        "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-march=native>")
  endif()
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-Wall;-Wextra;-Wpedantic>")
endmacro()

# Eigen's memory layout must be the same in every translation unit that
# passes an Eigen object to another; by default it is not. Eigen derives
# EIGEN_MAX_ALIGN_BYTES and EIGEN_MAX_STATIC_ALIGN_BYTES from the target's
# vector width (64 with AVX-512, 32 with AVX, 16 with SSE2), and from them
# how a dynamic matrix is allocated: plain malloc/free when 16 bytes suffice,
# otherwise its own aligned allocator that stores an offset before the block
# and frees with it. A matrix allocated in a library built with -march=native
# on an AVX-512 machine and freed by a consumer built without it (or the
# reverse) is freed by the wrong function: "double free or corruption".
#
# Pinning both to 64 (the widest x86 vector) gives every translation unit
# the aligned allocator and the same fixed-size layouts, whatever its flags.
# (EIGEN_MAX_ALIGN_BYTES=16, the usual advice, is not enough in Eigen 3.4:
# an AVX-512 translation unit still aligns to 64 and uses the aligned
# allocator.) PUBLIC, so every consumer of `target` inherits it; test:
# tests/consumer_abi/.
function(atp_pin_eigen_alignment target)
  target_compile_definitions(${target} PUBLIC EIGEN_MAX_ALIGN_BYTES=64 EIGEN_MAX_STATIC_ALIGN_BYTES=64)
endfunction()
