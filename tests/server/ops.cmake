# Operations, black-box against the built mempool-server (tests/ops/, /usr/bin/python3 for Debian's
# python3-prometheus-client): /metrics read by a real Prometheus parser, --check-config, and the
# signals (reload, log reopen, stop). scripts/setup.sh test installs what they need.
if(TARGET mempool-server)
  set(_ops ${PROJECT_SOURCE_DIR}/tests/ops)
  foreach(_test metrics_prometheus check_config signals)
    add_test(NAME ops_${_test} COMMAND /usr/bin/python3 ${_ops}/${_test}.py --mempool $<TARGET_FILE:mempool-server>)
    set_tests_properties(ops_${_test} PROPERTIES LABELS ops TIMEOUT 120)
  endforeach()
endif()
