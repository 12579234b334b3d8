mempool_add_test(test_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_test.cpp ${CMAKE_CURRENT_LIST_DIR}/config_model_test.cpp
                 LIBS mempool_server_cli)
target_compile_definitions(test_config PRIVATE MEMPOOL_SOURCE_CONFIG="${PROJECT_SOURCE_DIR}/config/server.toml")
