# Black-box conformance of the built mempool-server (tests/conformance/), each test starting the
# binary on a free loopback port: the raw-bytes table (the smuggling shapes of issue 10) beside
# nginx, which the test starts too, and a set of exchanges whose every answer a strict client
# (Debian's python3-h11, hence /usr/bin/python3) reads. A few seconds each; scripts/setup.sh test
# installs nginx-light and python3-h11.
if(TARGET mempool-server)
  set(_conformance ${PROJECT_SOURCE_DIR}/tests/conformance)
  add_test(NAME conformance_raw_vs_nginx
           COMMAND /usr/bin/python3 ${_conformance}/raw_conformance.py --mempool $<TARGET_FILE:mempool-server>)
  add_test(NAME conformance_h11
           COMMAND /usr/bin/python3 ${_conformance}/h11_exchanges.py --mempool $<TARGET_FILE:mempool-server>)
  set_tests_properties(conformance_raw_vs_nginx conformance_h11 PROPERTIES LABELS conformance TIMEOUT 300)
endif()
