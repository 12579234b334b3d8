mempool_add_test(test_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_test.cpp LIBS mempool_server_core)
