mempool_add_test(test_global_arena SOURCES ${CMAKE_CURRENT_LIST_DIR}/global_arena_test.cpp
                 ${CMAKE_CURRENT_LIST_DIR}/global_arena_model_test.cpp LABELS thread)
