# atp_add_test(NAME name SOURCES ... [LIBS ...] [LABELS ...])
#
# One doctest executable per suite; every TEST_CASE becomes its own ctest
# test (cmake/AtpDoctestDiscover.cmake lists them after each build), so
# ctest's summary counts real cases. A case that cannot run (no GPU) prints a
# line starting "ATP-SKIP:" and returns; ctest reports it as skipped. A test
# that runs zero doctest cases fails, so a bad filter can never pass silently.
function(atp_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE doctest::doctest atp_test_main ${T_LIBS})
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${T_NAME}_tests.cmake")
  string(REPLACE ";" "," labels "${T_LABELS}")
  add_custom_command(TARGET ${T_NAME} POST_BUILD
    COMMAND "${CMAKE_COMMAND}" -D "EXE=$<TARGET_FILE:${T_NAME}>" -D "OUT_FILE=${out}"
            -D "PREFIX=${T_NAME}: " -D "WORKDIR=${PROJECT_SOURCE_DIR}" -D "LABELS=${labels}"
            -P "${PROJECT_SOURCE_DIR}/cmake/AtpDoctestDiscover.cmake"
    VERBATIM)
  # ctest includes the list if it exists (it does once the target is built).
  file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/${T_NAME}_include.cmake"
    "if(EXISTS \"${out}\")\n  include(\"${out}\")\nelse()\n"
    "  add_test(${T_NAME}_NOT_BUILT ${T_NAME}_NOT_BUILT)\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${CMAKE_CURRENT_BINARY_DIR}/${T_NAME}_include.cmake")
endfunction()
