# The handler API without a server: Request, Response, Router, reason_phrase, iequals,
# method_from, and the built-in /hello and /echo handlers.
mempool_add_test(test_handler_api SOURCES ${CMAKE_CURRENT_LIST_DIR}/handler_api_test.cpp LIBS mempool::http_handlers)
