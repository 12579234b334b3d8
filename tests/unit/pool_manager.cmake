mempool_add_test(test_pool_manager SOURCES ${CMAKE_CURRENT_LIST_DIR}/pool_manager_test.cpp)
mempool_add_test(test_pool_manager_threads SOURCES ${CMAKE_CURRENT_LIST_DIR}/pool_manager_threads_test.cpp
                 ${CMAKE_CURRENT_LIST_DIR}/pool_manager_model_test.cpp LABELS thread)
