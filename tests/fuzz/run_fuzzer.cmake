# Script mode: runs one libFuzzer target for a bounded time from its corpus
# and prints a compact report, so that ctest's log stays short.
#
# Inputs: NAME, FUZZER (the binary), WORK (a build folder libFuzzer may write
# new inputs to), CORPUS (the committed seeds), REGRESSIONS (committed crash
# inputs, may be missing), ARTIFACTS (where a crash input is written).
# ATP_FUZZ_SECONDS in the environment sets the time (default 20).
#
# Prints "ATP-FUZZ: NAME runs=N exec_per_sec=R seconds=S corpus=C"; on a
# finding prints the end of libFuzzer's report and fails.
set(seconds "$ENV{ATP_FUZZ_SECONDS}")
if(seconds STREQUAL "")
  set(seconds 20)
endif()
if(NOT seconds MATCHES "^[0-9]+$" OR seconds EQUAL 0)
  message(FATAL_ERROR "ATP_FUZZ_SECONDS='${seconds}' is not a positive whole number of seconds")
endif()
file(MAKE_DIRECTORY "${WORK}" "${ARTIFACTS}")
set(dirs "${WORK}" "${CORPUS}")
if(IS_DIRECTORY "${REGRESSIONS}")
  list(APPEND dirs "${REGRESSIONS}")
endif()
execute_process(
  COMMAND "${FUZZER}" -max_total_time=${seconds} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          "-artifact_prefix=${ARTIFACTS}/" ${dirs}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
string(REGEX MATCH "stat::number_of_executed_units: *([0-9]+)" _ "${out}")
set(runs "${CMAKE_MATCH_1}")
string(REGEX MATCH "stat::average_exec_per_sec: *([0-9]+)" _ "${out}")
set(rate "${CMAKE_MATCH_1}")
file(GLOB corpus_files "${WORK}/*" "${CORPUS}/*")
list(LENGTH corpus_files corpus)
message(NOTICE "ATP-FUZZ: ${NAME} runs=${runs} exec_per_sec=${rate} seconds=${seconds} corpus=${corpus}")
if(NOT rc EQUAL 0)
  string(LENGTH "${out}" length)
  if(length GREATER 6000)
    math(EXPR from "${length} - 6000")
    string(SUBSTRING "${out}" ${from} 6000 out)
  endif()
  message(NOTICE "${out}")
  message(FATAL_ERROR "fuzz target ${NAME} found a problem (exit ${rc}); the input is in ${ARTIFACTS}: "
                      "fix it, then commit the input to tests/fuzz/regressions/${NAME}/")
endif()
