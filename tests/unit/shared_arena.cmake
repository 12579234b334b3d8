mempool_add_test(test_shared_arena SOURCES ${CMAKE_CURRENT_LIST_DIR}/shared_arena_test.cpp
                 ${CMAKE_CURRENT_LIST_DIR}/shared_arena_model_test.cpp)
