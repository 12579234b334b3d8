# The llhttp glue (server/request_parser.hpp) driven directly: split-anywhere invariance,
# pipelining, every refusal status, and the fuzz harness over seeds and its committed corpus.
mempool_add_test(test_request_parser
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/request_parser_test.cpp ${CMAKE_CURRENT_LIST_DIR}/request_parser_model_test.cpp
  LIBS mempool_http mempool_http_private)
