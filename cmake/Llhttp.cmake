# llhttp::llhttp, built from the C sources Debian ships in node-llhttp (no download, no vendoring):
# an object library, so its objects go into mempool::http (server/CMakeLists.txt) and an installed
# package needs no llhttp of its own.
#
# Strict: Debian's llhttp.c holds two generated parsers, `#if LLHTTP_STRICT_MODE` on its first
# line picks one, before it includes llhttp.h (whose own default of 0 comes too late to matter),
# so the switch must come from the command line. The strict parser requires LF after every CR
# (request line, headers, chunk-size line, trailers), CRLF after chunk data, and token bytes in
# field names (the lenient one lets a space through: "Transfer-Encoding : chunked"). PUBLIC, so
# every file that reads llhttp.h sees the same value.
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
target_compile_definitions(llhttp PUBLIC LLHTTP_STRICT_MODE=1)
set_target_properties(llhttp PROPERTIES C_STANDARD 99 POSITION_INDEPENDENT_CODE ON)
add_library(llhttp::llhttp ALIAS llhttp)
