#!/usr/bin/env bash
# Sets up, builds (Release) and runs the allocator micro-benchmarks, ending with a table of each
# contender's ns per operation and its ratio to mempool's allocator, all from one run.
# Extra arguments go to the benchmark binary (e.g. --benchmark_filter=request).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DMEMPOOL_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target mempool-bench
exec build/release/loadtest/mempool-bench "$@"
