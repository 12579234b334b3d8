mempool_add_test(test_ring_buffer SOURCES ${CMAKE_CURRENT_LIST_DIR}/ring_buffer_test.cpp
                 ${CMAKE_CURRENT_LIST_DIR}/ring_buffer_model_test.cpp LABELS thread)
