# mempool-server in-process on an ephemeral loopback port, talked to in raw HTTP (DESIGN §4):
# keep-alive, pipelining and its batched gather writes, limits and refusals, timeouts, static
# files, many connections, resets, stats and graceful shutdown; the library's route setup, failure
# rule and built-ins, the access
# log. Runs reactor threads, so the ThreadSanitizer pass runs it too.
mempool_add_test(test_server_integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/integration_http_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/integration_limits_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/integration_connections_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/integration_close_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/integration_memory_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/integration_library_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/integration_batching_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/integration_admin_test.cpp
  LIBS mempool_http mempool_http_private
  LABELS thread)
