#!/usr/bin/env bash
# Sets up, builds (Release) and runs the demo server on its default config (config/server.toml):
# http://127.0.0.1:8080/ serving config/www, with /hello, /echo, /stats and /metrics ([routes]).
# Extra arguments go to mempool-server (see --help), e.g. scripts/run.sh --listen 0.0.0.0:8080
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DMEMPOOL_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target mempool-server
exec build/release/server/mempool-server "$@"
