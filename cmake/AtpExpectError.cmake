# cmake -D EXE=program -D ARGS="a;b" -D EXPECT=regex [-D STATUS=n] -P AtpExpectError.cmake
#
# A command-line refusal test: runs EXE with ARGS and fails unless it exits
# with a non-zero status (exactly STATUS if given) and its output (stdout and
# stderr together) matches EXPECT. Used by chapters to check that bad options
# get a clear error naming the value, not a crash and not a silent success.
execute_process(COMMAND "${EXE}" ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(all "${out}${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "expected a refusal, but '${EXE} ${ARGS}' succeeded:\n${all}")
endif()
if(DEFINED STATUS AND NOT rc EQUAL STATUS)
  message(FATAL_ERROR "expected exit status ${STATUS}, got ${rc}:\n${all}")
endif()
if(NOT all MATCHES "${EXPECT}")
  message(FATAL_ERROR "the refusal (status ${rc}) does not say '${EXPECT}':\n${all}")
endif()
message(STATUS "refused as expected (status ${rc}): ${all}")
