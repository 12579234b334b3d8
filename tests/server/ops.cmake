# Operations, black-box against the built mempool-server (tests/ops/, /usr/bin/python3 for Debian's
# python3-prometheus-client): /metrics read by a real Prometheus parser, --check-config, and the
# signals (reload, log reopen, stop), the open-file limit at start, master/worker mode. scripts/setup.sh test installs what they need.
if(TARGET mempool-server)
  set(_ops ${PROJECT_SOURCE_DIR}/tests/ops)
  foreach(_test metrics_prometheus check_config signals descriptor_limit workers)
    add_test(NAME ops_${_test} COMMAND /usr/bin/python3 ${_ops}/${_test}.py --mempool $<TARGET_FILE:mempool-server>)
    set_tests_properties(ops_${_test} PROPERTIES LABELS ops TIMEOUT 120)
  endforeach()
endif()
# The dashboard in headless chromium (chromium, chromium-driver, python3-selenium, libjs-chart.js):
# in the optimised pass only (scripts/test.sh's sanitizer passes build with MEMPOOL_SANITIZE).
# Its screenshot: <build>/dashboard.png (the test prints the path).
if(TARGET mempool-server AND NOT MEMPOOL_SANITIZE)
  add_test(NAME ops_dashboard_browser
           COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/ops/dashboard_browser.py
                   --mempool $<TARGET_FILE:mempool-server> --screenshot ${CMAKE_BINARY_DIR}/dashboard.png)
  set_tests_properties(ops_dashboard_browser PROPERTIES LABELS browser TIMEOUT 180)
endif()
