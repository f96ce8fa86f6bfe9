# FindNCCL: locate the NVIDIA Collective Communications Library, header and
# library from ONE install, and check that they are the same version.
#
# Candidate installs, in this order; the first that has both include/nccl.h
# and a library (libnccl.so, or pip's libnccl.so.2 alone) wins:
#   1. NCCL_ROOT (CMake variable or environment): only this one when given,
#      and an error if it is incomplete;
#   2. the CUDA toolkit (CUDAToolkit_LIBRARY_ROOT, CUDAToolkit_INCLUDE_DIRS/..);
#   3. CMAKE_PREFIX_PATH, then the system prefixes (Debian's libnccl-dev)
#      unless CMAKE_FIND_USE_CMAKE_SYSTEM_PATH is OFF;
#   4. pip's NCCL (nvidia-nccl-cu13 and the like): every folder holding
#      libnccl.so* or nccl.h under the `nvidia` Python package of NCCL_PYTHON
#      (default: python3 on PATH), e.g. site-packages/nvidia/nccl/{include,lib}.
# Setting both NCCL_INCLUDE_DIR and NCCL_LIBRARY skips the search.
#
# A header from one install and a library from another is the classic way to
# get a program that compiles against one ABI and runs another, so the header's
# NCCL_VERSION_CODE is compared with what the library's ncclGetVersion returns
# (a tiny program run at configure time; ncclGetVersion needs no GPU). A
# mismatch is a configure error naming both files and both versions.
#
# Defines NCCL_FOUND, NCCL_VERSION (the header's), NCCL_LIBRARY_VERSION (the
# library's), NCCL_INCLUDE_DIR, NCCL_LIBRARY and the imported target NCCL::NCCL.
# Leaves out: static libnccl, Windows.

function(_atp_nccl_header_version include_dir out_var)
  file(STRINGS "${include_dir}/nccl.h" lines REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) +[0-9]+")
  set(parts "")
  foreach(part MAJOR MINOR PATCH)
    set(v "")
    foreach(line IN LISTS lines)
      if(line MATCHES "^#define NCCL_${part} +([0-9]+)")
        set(v "${CMAKE_MATCH_1}")
      endif()
    endforeach()
    list(APPEND parts "${v}")
  endforeach()
  list(JOIN parts "." version)
  set(${out_var} "${version}" PARENT_SCOPE)
endfunction()

# pip's NCCL roots: the folder above each lib/ holding libnccl.so* (and each
# include/ holding nccl.h, so an incomplete install is reported) inside the
# `nvidia` namespace package (all its locations, so PYTHONPATH counts too).
function(_atp_nccl_pip_roots out_var)
  set(${out_var} "" PARENT_SCOPE)
  if(NOT NCCL_PYTHON)
    find_program(NCCL_PYTHON NAMES python3 python DOC "Python whose nvidia.* packages FindNCCL searches for NCCL")
    mark_as_advanced(NCCL_PYTHON)
  endif()
  if(NOT NCCL_PYTHON)
    return()
  endif()
  set(script [=[
import glob, importlib.util, os
roots = []
try:
    spec = importlib.util.find_spec("nvidia")
except Exception:
    spec = None
for d in (list(spec.submodule_search_locations or []) if spec else []):
    for pattern in ("libnccl.so*", "nccl.h"):
        for f in sorted(glob.glob(os.path.join(d, "**", pattern), recursive=True)):
            root = os.path.dirname(os.path.dirname(f))
            if root not in roots:
                roots.append(root)
print(";".join(roots), end="")
]=])
  execute_process(COMMAND "${NCCL_PYTHON}" -c "${script}" OUTPUT_VARIABLE roots ERROR_QUIET
                  RESULT_VARIABLE rc TIMEOUT 60)
  if(rc EQUAL 0)
    set(${out_var} "${roots}" PARENT_SCOPE)
  endif()
endfunction()

# Header and library inside `root`, or empty.
function(_atp_nccl_look_in root inc_var lib_var)
  find_path(inc nccl.h PATHS "${root}" PATH_SUFFIXES include targets/x86_64-linux/include
            NO_DEFAULT_PATH NO_CACHE)
  find_library(lib NAMES nccl libnccl.so.2 NAMES_PER_DIR PATHS "${root}"
               PATH_SUFFIXES lib lib64 "lib/${CMAKE_LIBRARY_ARCHITECTURE}" targets/x86_64-linux/lib
               NO_DEFAULT_PATH NO_CACHE)
  set(${inc_var} "${inc}" PARENT_SCOPE)
  set(${lib_var} "${lib}" PARENT_SCOPE)
endfunction()

# The library's own version: ncclGetVersion() from a program linked with it.
function(_atp_nccl_library_version library out_var)
  set(dir "${CMAKE_BINARY_DIR}/CMakeFiles/atp_nccl_version")
  file(MAKE_DIRECTORY "${dir}")
  # Declared here, not taken from nccl.h: this must measure the library alone.
  file(WRITE "${dir}/nccl_version.cpp"
       "#include <cstdio>\nextern \"C\" int ncclGetVersion(int*);\n"
       "int main() { int v = 0; if (ncclGetVersion(&v) != 0) return 2; std::printf(\"%d\", v); return 0; }\n")
  get_filename_component(libdir "${library}" DIRECTORY)
  set(saved_ld "$ENV{LD_LIBRARY_PATH}")
  set(ENV{LD_LIBRARY_PATH} "${libdir}:${saved_ld}")
  try_run(run_rc compile_ok "${dir}/build" "${dir}/nccl_version.cpp"
          LINK_LIBRARIES "${library}"
          COMPILE_OUTPUT_VARIABLE compile_out RUN_OUTPUT_VARIABLE run_out)
  set(ENV{LD_LIBRARY_PATH} "${saved_ld}")
  if(NOT compile_ok)
    message(FATAL_ERROR "FindNCCL: cannot link a program against ${library}:\n${compile_out}")
  endif()
  if(NOT run_rc EQUAL 0 OR NOT run_out MATCHES "^[0-9]+$")
    message(FATAL_ERROR "FindNCCL: a program linked with ${library} could not report its version "
                        "(exit ${run_rc}): ${run_out}")
  endif()
  set(${out_var} "${run_out}" PARENT_SCOPE)
endfunction()

# 22809 -> 2.28.9 (X*10000+Y*100+Z from 2.9 on, X*1000+Y*100+Z before).
function(_atp_nccl_code_to_version code out_var)
  if(code GREATER_EQUAL 10000)
    math(EXPR major "${code} / 10000")
    math(EXPR minor "(${code} % 10000) / 100")
  else()
    math(EXPR major "${code} / 1000")
    math(EXPR minor "(${code} % 1000) / 100")
  endif()
  math(EXPR patch "${code} % 100")
  set(${out_var} "${major}.${minor}.${patch}" PARENT_SCOPE)
endfunction()

# --- the search -------------------------------------------------------------
if(NOT DEFINED NCCL_ROOT AND DEFINED ENV{NCCL_ROOT})
  set(NCCL_ROOT "$ENV{NCCL_ROOT}")
endif()

if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
  set(_nccl_from "NCCL_INCLUDE_DIR and NCCL_LIBRARY")
elseif(NCCL_INCLUDE_DIR OR NCCL_LIBRARY)
  message(FATAL_ERROR "FindNCCL: set both NCCL_INCLUDE_DIR and NCCL_LIBRARY (of the same install) or neither; "
                      "NCCL_INCLUDE_DIR='${NCCL_INCLUDE_DIR}', NCCL_LIBRARY='${NCCL_LIBRARY}'")
else()
  set(_nccl_candidates "")
  if(NCCL_ROOT)
    set(_nccl_candidates "${NCCL_ROOT}")
  else()
    if(CUDAToolkit_LIBRARY_ROOT)
      list(APPEND _nccl_candidates "${CUDAToolkit_LIBRARY_ROOT}")
    endif()
    foreach(_d IN LISTS CUDAToolkit_INCLUDE_DIRS)
      get_filename_component(_d "${_d}/.." ABSOLUTE)
      list(APPEND _nccl_candidates "${_d}")
    endforeach()
    list(APPEND _nccl_candidates ${CMAKE_PREFIX_PATH} $ENV{CMAKE_PREFIX_PATH})
    if(NOT DEFINED CMAKE_FIND_USE_CMAKE_SYSTEM_PATH OR CMAKE_FIND_USE_CMAKE_SYSTEM_PATH)
      list(APPEND _nccl_candidates ${CMAKE_SYSTEM_PREFIX_PATH})
    endif()
    _atp_nccl_pip_roots(_nccl_pip)
    list(APPEND _nccl_candidates ${_nccl_pip})
    list(REMOVE_DUPLICATES _nccl_candidates)
  endif()
  set(_nccl_incomplete "")
  foreach(_root IN LISTS _nccl_candidates)
    _atp_nccl_look_in("${_root}" _inc _lib)
    if(_inc AND _lib)
      set(NCCL_INCLUDE_DIR "${_inc}" CACHE PATH "Folder holding nccl.h" FORCE)
      set(NCCL_LIBRARY "${_lib}" CACHE FILEPATH "libnccl of the same install as NCCL_INCLUDE_DIR" FORCE)
      set(_nccl_from "${_root}")
      break()
    elseif(_inc)
      list(APPEND _nccl_incomplete "${_root} (nccl.h, no library)")
    elseif(_lib)
      list(APPEND _nccl_incomplete "${_root} (library, no nccl.h)")
    endif()
  endforeach()
  if(NOT NCCL_LIBRARY AND NCCL_ROOT)
    # An explicit choice that cannot work is an error, never a silent fallback.
    message(FATAL_ERROR "FindNCCL: NCCL_ROOT='${NCCL_ROOT}' does not hold both include/nccl.h and "
                        "lib*/libnccl.so*; point it at a complete NCCL install or unset it")
  endif()
  if(_nccl_incomplete AND NOT NCCL_LIBRARY)
    message(STATUS "FindNCCL: incomplete installs skipped (a header needs its own library): ${_nccl_incomplete}")
  endif()
endif()

# --- header version against library version -----------------------------------
set(NCCL_VERSION "")
set(NCCL_LIBRARY_VERSION "")
if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY AND EXISTS "${NCCL_INCLUDE_DIR}/nccl.h")
  _atp_nccl_header_version("${NCCL_INCLUDE_DIR}" NCCL_VERSION)
  if(CMAKE_CROSSCOMPILING)
    message(STATUS "FindNCCL: cross-compiling; the library's version is not checked against nccl.h")
    set(NCCL_LIBRARY_VERSION "${NCCL_VERSION}")
  else()
    # Checked once per pair (the program takes a second); the cache remembers the pair.
    set(_pair "${NCCL_INCLUDE_DIR}|${NCCL_LIBRARY}|${NCCL_VERSION}")
    if(NOT _ATP_NCCL_CHECKED_PAIR STREQUAL _pair)
      _atp_nccl_library_version("${NCCL_LIBRARY}" _code)
      _atp_nccl_code_to_version("${_code}" _lib_version)
      set(_ATP_NCCL_LIBRARY_VERSION "${_lib_version}" CACHE INTERNAL "")
      set(_ATP_NCCL_CHECKED_PAIR "${_pair}" CACHE INTERNAL "")
    endif()
    set(NCCL_LIBRARY_VERSION "${_ATP_NCCL_LIBRARY_VERSION}")
  endif()
  if(NOT NCCL_LIBRARY_VERSION STREQUAL NCCL_VERSION)
    unset(_ATP_NCCL_CHECKED_PAIR CACHE)
    message(FATAL_ERROR
      "FindNCCL: header and library are different NCCL versions:\n"
      "  ${NCCL_INCLUDE_DIR}/nccl.h says ${NCCL_VERSION}\n"
      "  ${NCCL_LIBRARY} reports ${NCCL_LIBRARY_VERSION} (ncclGetVersion)\n"
      "Point NCCL_ROOT at one install that has both, or set NCCL_INCLUDE_DIR and NCCL_LIBRARY of the same one "
      "(found through: ${_nccl_from}).")
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NCCL REQUIRED_VARS NCCL_LIBRARY NCCL_INCLUDE_DIR VERSION_VAR NCCL_VERSION)

if(NCCL_FOUND AND NOT TARGET NCCL::NCCL)
  # SHARED, so that CMake puts the library's folder in the build tree's RPATH:
  # pip's folder is on no loader path.
  add_library(NCCL::NCCL SHARED IMPORTED)
  set_target_properties(NCCL::NCCL PROPERTIES
    IMPORTED_LOCATION "${NCCL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
endif()
if(NCCL_FOUND AND NOT NCCL_FIND_QUIETLY)
  message(STATUS "FindNCCL: ${NCCL_LIBRARY} and ${NCCL_INCLUDE_DIR}/nccl.h, both ${NCCL_VERSION} (from ${_nccl_from})")
endif()
mark_as_advanced(NCCL_INCLUDE_DIR NCCL_LIBRARY)
