# Compiler flags shared by every target of this project (not exported to consumers).
add_library(mempool_project_flags INTERFACE)
target_compile_options(mempool_project_flags INTERFACE -Wall -Wextra -Wpedantic)
if(MEMPOOL_WERROR)
  target_compile_options(mempool_project_flags INTERFACE -Werror)
endif()

if(MEMPOOL_SANITIZE)
  string(REPLACE ";" "," _mempool_san "${MEMPOOL_SANITIZE}")
  if(NOT _mempool_san MATCHES "^(address|undefined|address,undefined|undefined,address|thread)$")
    message(FATAL_ERROR "MEMPOOL_SANITIZE must be address,undefined or thread (got '${_mempool_san}')")
  endif()
  # Applied globally so that every object, including llhttp's C sources, is instrumented.
  add_compile_options(-fsanitize=${_mempool_san} -fno-omit-frame-pointer -fno-sanitize-recover=all -g)
  add_link_options(-fsanitize=${_mempool_san})
  if(_mempool_san STREQUAL "thread")
    # GCC 12 warns that TSan does not model atomic_thread_fence, which Asio uses; not our code.
    add_compile_options(-Wno-tsan)
  endif()
endif()

if(MEMPOOL_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "MEMPOOL_FUZZ needs clang (libFuzzer): configure with CMAKE_CXX_COMPILER=clang++-16")
  endif()
  if(MEMPOOL_SANITIZE)
    message(FATAL_ERROR "MEMPOOL_FUZZ brings its own sanitizers (address,undefined): leave MEMPOOL_SANITIZE empty")
  endif()
  # Everything, the library included, gets coverage and sanitizers; only the fuzz targets link
  # libFuzzer's main (tests/fuzz/CMakeLists.txt).
  # -fsized-deallocation: what C++14 and g++ do by default, and clang 16 leaves off.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fsized-deallocation
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
endif()
