#!/usr/bin/env bash
# loadtest/run.sh [MODE] [options]: the load tests in one command.
#   loadtest/run.sh                  throughput: mempool vs nginx, h2o and the floor (about 7 minutes)
#   loadtest/run.sh --rounds 5       throughput for the bar (DESIGN §6)
#   loadtest/run.sh allocs           heap allocations per request (LD_PRELOAD counter)
#   loadtest/run.sh idle             memory per idle keep-alive connection (10 000 connections)
#   loadtest/run.sh soak             1 M requests + 100 k connections against mempool-server
#   loadtest/run.sh attack           slow clients (slowhttptest) beside a fixed-rate normal client
#   loadtest/run.sh workers          2 worker processes beside 2 threads: CPU µs/request, allocs/request
#   loadtest/run.sh cluster          config/deploy/haproxy.cfg + two instances: SIGTERM, SIGKILL, restart
#   loadtest/run.sh check            the instruments against known answers
#   loadtest/run.sh --servers mempool,mempool-portable   ... and a second build (see below)
#   loadtest/run.sh --help           every option
# Installs what it needs (scripts/setup.sh loadtest), builds Release into build/release, then
# runs loadtest/run.py, which stops every process it started on any exit (Ctrl-C included) and
# writes results/<timestamp>-<mode>/.
# When --servers names mempool-portable, it also configures and builds mempool-server into
# build/release-portable (or --portable-build DIR) with -DMEMPOOL_PORTABLE_WAIT=ON. A tree without
# that option yet builds the same code there (CMake only warns about an unused -D).
set -euo pipefail
cd "$(dirname "$0")/.."

python=/usr/bin/python3  # Debian's, standard library only; not whatever a version manager puts first
[[ -x "$python" ]] || python=python3

for arg in "$@"; do
  if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
    exec "$python" loadtest/run.py --help
  fi
done

portable=""                          # set when --servers names mempool-portable
targets=(mempool-server loadtest-tools)
portable_dir=build/release-portable
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --portable-build) portable_dir="${args[i + 1]:-$portable_dir}" ;;
    --portable-build=*) portable_dir="${args[i]#*=}" ;;
    *mempool-portable*) portable=yes ;;
    handler) targets+=(mempool-bench) ;;  # the handler workload runs in the micro-benchmarks
  esac
done

release=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DMEMPOOL_BUILD_TESTS=OFF)
scripts/setup.sh loadtest
cmake -S . -B build/release "${release[@]}" >/dev/null
cmake --build build/release -j "$(nproc)" --target "${targets[@]}"
if [[ -n "$portable" ]]; then
  cmake -S . -B "$portable_dir" "${release[@]}" -DMEMPOOL_PORTABLE_WAIT=ON >/dev/null
  cmake --build "$portable_dir" -j "$(nproc)" --target mempool-server
fi
exec "$python" loadtest/run.py "$@"
