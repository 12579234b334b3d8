# The include graph of server/, handlers/ and mempool/, read from the source tree: no cycles, no
# upward includes, no dependency leaking through the public headers.
mempool_add_test(test_include_graph SOURCES ${CMAKE_CURRENT_LIST_DIR}/include_graph_test.cpp)
target_compile_definitions(test_include_graph PRIVATE MEMPOOL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
