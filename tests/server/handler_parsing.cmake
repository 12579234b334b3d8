# The static-file handler's parsers under their fuzz harnesses (tests/model/): path normalization
# and resolution, Range / If-None-Match / If-Modified-Since / If-Range. The field parsers are
# private to handlers/ (handlers/src/request_conditions.hpp).
mempool_add_test(test_handler_parsing SOURCES ${CMAKE_CURRENT_LIST_DIR}/handler_parsing_test.cpp LIBS mempool::http_handlers)
target_include_directories(test_handler_parsing PRIVATE ${PROJECT_SOURCE_DIR}/handlers/src)
