# The allocation-heavy handler of the load tests' handler mode (loadtest/bench/json_workload.hpp):
# the same answers on a request pool and on the heap, nothing escaping the pool.
mempool_add_test(test_json_workload SOURCES ${CMAKE_CURRENT_LIST_DIR}/json_workload_test.cpp)
target_include_directories(test_json_workload PRIVATE ${PROJECT_SOURCE_DIR}/loadtest/bench)
