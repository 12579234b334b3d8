mempool_add_test(test_pool SOURCES ${CMAKE_CURRENT_LIST_DIR}/pool_test.cpp ${CMAKE_CURRENT_LIST_DIR}/pool_model_test.cpp
                           ${CMAKE_CURRENT_LIST_DIR}/pool_cleanups_test.cpp)
