# ctest script: the runtime and kiln-run must not depend on MLIR or LLVM.
#   cmake -DFILES="a;b" -P check_no_llvm.cmake
# ldd lists the transitive closure, so an indirect dependency fails too.
foreach(file IN LISTS FILES)
  execute_process(COMMAND ldd ${file} OUTPUT_VARIABLE deps ERROR_VARIABLE err
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "ldd ${file} failed (${rc}): ${err}")
  endif()
  if(deps MATCHES "libMLIR|libLLVM|libclang")
    message(FATAL_ERROR "${file} links MLIR/LLVM:\n${deps}")
  endif()
  if(NOT deps MATCHES "libc\\.so")
    message(FATAL_ERROR "ldd ${file} printed no libraries; is it a dynamic executable?\n${deps}")
  endif()
  message(STATUS "${file}: no MLIR/LLVM")
endforeach()
