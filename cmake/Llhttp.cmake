# llhttp::llhttp, built from the C sources Debian ships in node-llhttp (no download, no vendoring):
# an object library, so its objects go into mempool::http (server/CMakeLists.txt) and an installed
# package needs no llhttp of its own.
set(LLHTTP_SOURCE_DIR /usr/share/llhttp CACHE PATH "Directory holding llhttp's api.c, http.c, llhttp.c")
set(LLHTTP_INCLUDE_DIR /usr/share/include/llhttp CACHE PATH "Directory holding llhttp.h")
foreach(_f ${LLHTTP_SOURCE_DIR}/api.c ${LLHTTP_SOURCE_DIR}/http.c ${LLHTTP_SOURCE_DIR}/llhttp.c
           ${LLHTTP_INCLUDE_DIR}/llhttp.h)
  if(NOT EXISTS ${_f})
    message(FATAL_ERROR "${_f} not found: install Debian's node-llhttp (scripts/setup.sh does)")
  endif()
endforeach()
add_library(llhttp OBJECT ${LLHTTP_SOURCE_DIR}/api.c ${LLHTTP_SOURCE_DIR}/http.c ${LLHTTP_SOURCE_DIR}/llhttp.c)
target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
set_target_properties(llhttp PROPERTIES C_STANDARD 99 POSITION_INDEPENDENT_CODE ON)
add_library(llhttp::llhttp ALIAS llhttp)
