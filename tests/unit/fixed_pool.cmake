mempool_add_test(test_fixed_pool SOURCES ${CMAKE_CURRENT_LIST_DIR}/fixed_pool_test.cpp
                 ${CMAKE_CURRENT_LIST_DIR}/fixed_pool_model_test.cpp)
