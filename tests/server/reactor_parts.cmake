mempool_add_test(test_reactor_parts SOURCES ${CMAKE_CURRENT_LIST_DIR}/reactor_parts_test.cpp LIBS mempool_http mempool_http_private)
mempool_add_test(test_access_log SOURCES ${CMAKE_CURRENT_LIST_DIR}/access_log_test.cpp LIBS mempool_http mempool_http_private)
mempool_add_test(test_access_log_threads SOURCES ${CMAKE_CURRENT_LIST_DIR}/access_log_threads_test.cpp
                 LIBS mempool_http mempool_http_private LABELS thread)
mempool_add_test(test_scoreboard SOURCES ${CMAKE_CURRENT_LIST_DIR}/scoreboard_test.cpp LIBS mempool_http mempool_http_private)
