mempool_add_test(test_block_allocator SOURCES ${CMAKE_CURRENT_LIST_DIR}/block_allocator_test.cpp)
mempool_add_test(test_block_allocator_threads SOURCES ${CMAKE_CURRENT_LIST_DIR}/block_allocator_threads_test.cpp
                 ${CMAKE_CURRENT_LIST_DIR}/block_allocator_model_test.cpp LABELS thread)
