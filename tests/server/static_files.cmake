# The static-file handler: path resolution, MIME table, HTTP dates, open-file cache, and the
# handler itself against a temporary document root.
mempool_add_test(test_static_files
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/static_files_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/static_files_units_test.cpp
  LIBS mempool::http_handlers)
