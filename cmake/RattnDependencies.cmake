# Finds the libraries rattn builds against; all come from Debian 12 packages
# (scripts/install-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(PkgConfig REQUIRED)
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)

if(RATTN_BUILD_TESTS)
  find_package(GTest REQUIRED)
  # The golden-logit reference needs numpy, which Debian's python3 has (a pyenv python on PATH
  # may not).
  if(NOT Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
    set(Python3_EXECUTABLE /usr/bin/python3)
  endif()
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  execute_process(COMMAND ${Python3_EXECUTABLE} -c "import numpy"
                  RESULT_VARIABLE RATTN_NUMPY_MISSING OUTPUT_QUIET ERROR_QUIET)
  if(RATTN_NUMPY_MISSING)
    message(FATAL_ERROR "${Python3_EXECUTABLE} cannot import numpy (install python3-numpy)")
  endif()
  # The SentencePiece reference encodings come from the library's Python binding.
  execute_process(COMMAND ${Python3_EXECUTABLE} -c "import sentencepiece"
                  RESULT_VARIABLE RATTN_SENTENCEPIECE_PY_MISSING OUTPUT_QUIET ERROR_QUIET)
  if(RATTN_SENTENCEPIECE_PY_MISSING)
    message(FATAL_ERROR
            "${Python3_EXECUTABLE} cannot import sentencepiece (install python3-sentencepiece)")
  endif()
endif()
if(RATTN_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()

# The CUDA backend: built when a toolkit is found (RATTN_CUDA=AUTO) or required (ON).
set(RATTN_HAVE_CUDA OFF)
if(NOT RATTN_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_ARCHITECTURES ${RATTN_CUDA_ARCHITECTURES})
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    # CMake 3.25 knows no C++20 flag for nvcc 13; CUDA sources are C++17.
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(RATTN_HAVE_CUDA ON)
  elseif(RATTN_CUDA STREQUAL "ON")
    message(FATAL_ERROR "RATTN_CUDA=ON but no CUDA compiler was found (looked at /usr/local/cuda)")
  endif()
endif()
