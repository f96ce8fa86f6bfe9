# Script mode, run after a test executable is built: lists its doctest cases
# and writes one ctest test per case into OUT_FILE.
#
# Why not doctest's own doctest_discover_tests: it passes the case name as a
# doctest filter unescaped, and doctest splits filters at commas, so a case
# named "a, b" silently runs zero cases and passes; it also breaks on '['.
# Here commas are escaped ("\,", which doctest honours), '[' ']' ';' become
# the single-character wildcard '?', and every test fails if it ran no case.
#
# Inputs: EXE, OUT_FILE, PREFIX, WORKDIR, LABELS (comma-separated, optional).
execute_process(COMMAND "${EXE}" --list-test-cases --no-version
  OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "Listing the cases of ${EXE} failed (${rc}):\n${listing}")
endif()
# Protect the characters CMake's list handling would interpret.
string(REPLACE "[" "<ATPLB>" listing "${listing}")
string(REPLACE "]" "<ATPRB>" listing "${listing}")
string(REPLACE ";" "<ATPSC>" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")

string(REPLACE "," ";" labels "${LABELS}")
set(script "")
set(count 0)
foreach(line IN LISTS lines)
  if(line STREQUAL "" OR line MATCHES "^=+$" OR line MATCHES "^\\[doctest\\]" OR line MATCHES "^<ATPLB>doctest<ATPRB>")
    continue()
  endif()
  set(name "${line}")
  string(REPLACE "<ATPLB>" "[" name "${name}")
  string(REPLACE "<ATPRB>" "]" name "${name}")
  string(REPLACE "<ATPSC>" ";" name "${name}")
  set(filter "${line}")
  string(REPLACE "<ATPLB>" "?" filter "${filter}")
  string(REPLACE "<ATPRB>" "?" filter "${filter}")
  string(REPLACE "<ATPSC>" "?" filter "${filter}")
  string(REPLACE "," "\\," filter "${filter}")
  set(test "${PREFIX}${name}")
  string(APPEND script
    "add_test([==[${test}]==] \"${EXE}\" [==[--test-case=${filter}]==])\n"
    "set_tests_properties([==[${test}]==] PROPERTIES WORKING_DIRECTORY \"${WORKDIR}\" "
    "SKIP_REGULAR_EXPRESSION \"ATP-SKIP:\" FAIL_REGULAR_EXPRESSION \"test cases: +0 [|]\"")
  if(labels)
    string(APPEND script " LABELS \"${LABELS}\"")
  endif()
  string(APPEND script ")\n")
  math(EXPR count "${count} + 1")
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "${EXE} lists no test cases")
endif()
file(WRITE "${OUT_FILE}" "${script}")
