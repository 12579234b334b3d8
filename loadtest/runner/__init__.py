"""The load-test runner behind loadtest/run.sh: servers, wrk, measurements and reports."""
