# Compiler flags shared by every rattn target, applied through the rattn_build_flags interface.
add_library(rattn_build_flags INTERFACE)
target_compile_options(rattn_build_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
  -Wnon-virtual-dtor>)

if(RATTN_CPU_ARCH AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag("-march=${RATTN_CPU_ARCH}" RATTN_HAS_MARCH)
  if(RATTN_HAS_MARCH)
    target_compile_options(rattn_build_flags INTERFACE
      $<$<COMPILE_LANGUAGE:CXX>:-march=${RATTN_CPU_ARCH}>)
  else()
    message(WARNING "compiler does not accept -march=${RATTN_CPU_ARCH}; using its default")
  endif()
endif()

if(RATTN_SANITIZE)
  target_compile_options(rattn_build_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${RATTN_SANITIZE} -fno-omit-frame-pointer
    -fno-sanitize-recover=all>)
  target_link_options(rattn_build_flags INTERFACE -fsanitize=${RATTN_SANITIZE})
endif()

if(RATTN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "RATTN_FUZZ needs clang (libFuzzer); use the fuzz preset")
  endif()
  # Coverage instrumentation everywhere; only the fuzz targets link libFuzzer's main.
  target_compile_options(rattn_build_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
endif()
