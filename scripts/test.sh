#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this):
#   1. an optimised build (RelWithDebInfo, -Werror): every test, and a short smoke run of the benchmarks;
#      the server integration suite once more with the portable readiness wait (MEMPOOL_PORTABLE_WAIT);
#      then that build installed into a scratch prefix and the example application (examples/kv)
#      built out of tree against it, with its own tests
#   2. AddressSanitizer + UBSan with MEMPOOL_DEBUG (every pool allocation its own heap allocation)
#   3. AddressSanitizer + UBSan without MEMPOOL_DEBUG: every allocator suite (poisoning of rewound
#      block memory), model tests included
#   4. ThreadSanitizer on the suites labelled `thread`
#   5. coverage-guided fuzzing: every libFuzzer target for 10 s (scripts/fuzz.sh; longer runs: README)
# The model tests (tests/model/) run in every pass, over seeded inputs and the committed corpora.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test

jobs=$(nproc)
common=(-G Ninja -DMEMPOOL_WERROR=ON)

configure_and_build() {  # <dir> <cmake args...>
  local dir=$1; shift
  cmake -S . -B "$dir" "${common[@]}" "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

step() { printf '\n=== %s ===\n' "$*"; }

step "1/5 optimised build: all tests"
configure_and_build build/test-release -DCMAKE_BUILD_TYPE=RelWithDebInfo
ctest --test-dir build/test-release -j "$jobs" --output-on-failure --no-tests=error
if [[ -x build/test-release/loadtest/mempool-bench ]]; then
  build/test-release/loadtest/mempool-bench --benchmark_min_time=0.001 >/dev/null
fi

step "1/5 the portable readiness wait (-DMEMPOOL_PORTABLE_WAIT=ON): the server integration suite"
cmake -S . -B build/test-portable "${common[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEMPOOL_PORTABLE_WAIT=ON \
  -DMEMPOOL_BUILD_BENCH=OFF >/dev/null
cmake --build build/test-portable -j "$jobs" --target test_server_integration
ctest --test-dir build/test-portable -j "$jobs" --output-on-failure -R '^test_server_integration:' --no-tests=error

step "1/5 the example application, out of tree against the installed package"
rm -rf build/test-install build/test-example-kv
cmake --install build/test-release --prefix build/test-install >/dev/null
cmake -S examples/kv -B build/test-example-kv -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_PREFIX_PATH="$PWD/build/test-install" >/dev/null
cmake --build build/test-example-kv -j "$jobs"
ctest --test-dir build/test-example-kv --output-on-failure --no-tests=error

step "2/5 AddressSanitizer + UBSan, MEMPOOL_DEBUG: all tests"
configure_and_build build/test-asan -DCMAKE_BUILD_TYPE=Debug -DMEMPOOL_SANITIZE=address,undefined \
  -DMEMPOOL_DEBUG=ON -DMEMPOOL_BUILD_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/test-asan -j "$jobs" --output-on-failure --no-tests=error

step "3/5 AddressSanitizer + UBSan without MEMPOOL_DEBUG: every allocator suite"
configure_and_build build/test-asan-pool -DCMAKE_BUILD_TYPE=Debug -DMEMPOOL_SANITIZE=address,undefined \
  -DMEMPOOL_BUILD_BENCH=OFF -DMEMPOOL_BUILD_SERVER=OFF
ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/test-asan-pool -j "$jobs" --output-on-failure --no-tests=error -L '^(unit|thread)$'

step "4/5 ThreadSanitizer: thread suites"
configure_and_build build/test-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEMPOOL_SANITIZE=thread \
  -DMEMPOOL_BUILD_BENCH=OFF
# TSan needs the address-space layout it was built for; newer kernels randomise more than that.
setarch "$(uname -m)" -R ctest --test-dir build/test-tsan -j "$jobs" --output-on-failure --no-tests=error -L thread

step "5/5 fuzzing: every target, 10 s each"
scripts/fuzz.sh 10

step "all test passes succeeded"
