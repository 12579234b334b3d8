mempool_add_test(test_small_object_allocator SOURCES ${CMAKE_CURRENT_LIST_DIR}/small_object_allocator_test.cpp
                 ${CMAKE_CURRENT_LIST_DIR}/small_object_model_test.cpp)
