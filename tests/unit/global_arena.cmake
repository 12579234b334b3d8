mempool_add_test(test_global_arena SOURCES ${CMAKE_CURRENT_LIST_DIR}/global_arena_test.cpp LABELS thread)
