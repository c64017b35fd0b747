# Runs one command-line tool invocation and checks how it ends.
#
#   cmake -DCOMMAND="tool|arg|arg" -DEXPECT_RC=1 [-DSTDERR_LINES=1]
#         [-DSTDERR_MATCHES="regex|regex"] [-DSTDOUT_MATCHES="regex|regex"]
#         [-DNO_FILE=path] -P check_cli.cmake
#
# COMMAND and the regex lists are separated by '|' (a ';' would be split by
# add_test). The exit code must equal EXPECT_RC exactly: a crash (a signal,
# which execute_process reports as text such as "Segmentation fault", or a
# shell-style code >= 128) never passes. STDERR_LINES: the exact number of
# lines on stderr (1 for "one line, no stack trace, no CLI11 help text").
# NO_FILE: a path that must not exist afterwards (no half-written output).

foreach(var COMMAND EXPECT_RC)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_cli.cmake: ${var} is not set")
  endif()
endforeach()

string(REPLACE "|" ";" cmd "${COMMAND}")
execute_process(COMMAND ${cmd}
                RESULT_VARIABLE rc
                OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
string(REPLACE "|" " " shown "${COMMAND}")
set(report "command: ${shown}\nexit: ${rc}\n--- stdout ---\n${out}\n--- stderr ---\n${err}\n---")

if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "the tool crashed (${rc})\n${report}")
endif()
if(rc GREATER_EQUAL 128)
  message(FATAL_ERROR "exit code ${rc} >= 128 (killed by a signal?)\n${report}")
endif()
if(NOT rc EQUAL EXPECT_RC)
  message(FATAL_ERROR "expected exit code ${EXPECT_RC}, got ${rc}\n${report}")
endif()

if(DEFINED STDERR_LINES)
  # Lines = newline-terminated chunks; a last line without '\n' counts too.
  string(REGEX MATCHALL "\n" newlines "${err}")
  list(LENGTH newlines lines)
  if(NOT err STREQUAL "" AND NOT err MATCHES "\n$")
    math(EXPR lines "${lines} + 1")
  endif()
  if(NOT lines EQUAL STDERR_LINES)
    message(FATAL_ERROR "expected ${STDERR_LINES} line(s) on stderr, got ${lines}\n${report}")
  endif()
endif()

foreach(stream STDERR STDOUT)
  if(stream STREQUAL "STDERR")
    set(text "${err}")
  else()
    set(text "${out}")
  endif()
  if(DEFINED ${stream}_MATCHES)
    string(REPLACE "|" ";" regexes "${${stream}_MATCHES}")
    foreach(regex IN LISTS regexes)
      if(NOT text MATCHES "${regex}")
        string(TOLOWER "${stream}" name)
        message(FATAL_ERROR "${name} does not match '${regex}'\n${report}")
      endif()
    endforeach()
  endif()
endforeach()

if(DEFINED NO_FILE AND EXISTS "${NO_FILE}")
  message(FATAL_ERROR "'${NO_FILE}' exists but should not\n${report}")
endif()
