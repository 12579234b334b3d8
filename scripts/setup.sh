#!/usr/bin/env bash
# Installs what mempool needs, from Debian's packages only, and nothing that is already there.
#   scripts/setup.sh            build and micro-benchmark dependencies (what scripts/run.sh needs)
#   scripts/setup.sh test       the above plus the test tools: clang 16 with libFuzzer (scripts/fuzz.sh),
#                               python3-prometheus-client (tests/ops: /metrics through a real parser),
#                               chromium, chromium-driver and python3-selenium (the dashboard, in a
#                               headless browser),
#                               nginx-light (the conformance suite's second column) and python3-h11
#                               (the strict client that checks every answer)
#   scripts/setup.sh loadtest   the build set plus wrk, nginx, h2o, gnuplot for loadtest/run.sh
# Runs apt-get update first whenever something is missing. Needs root or sudo for that.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config make        # toolchain
  libfmt-dev libspdlog-dev libasio-dev          # library and server
  node-llhttp libtomlplusplus-dev               # HTTP parser sources, config parser
  catch2 curl                                   # tests
  libbenchmark-dev libapr1-dev                  # micro-benchmarks (APR pools as a contender)
  libjemalloc2 libmimalloc2.0                   # contenders loaded at run time where installed
  libjs-chart.js                                # the admin dashboard's charts (mempool-server serves the file)
)
if [[ "${1:-}" == "test" ]]; then
  packages+=(clang-16 libclang-rt-16-dev llvm-16)   # libFuzzer and its symbolizer (clang 14 lacks source_location)
  packages+=(nginx-light python3 python3-h11)       # tests/conformance: nginx beside mempool; h11 reads every answer
  packages+=(python3-prometheus-client)             # tests/ops: /metrics read by a real Prometheus parser
  packages+=(chromium chromium-driver python3-selenium)  # tests/ops: the dashboard in a headless browser
fi
if [[ "${1:-}" == "loadtest" ]]; then
  packages+=(wrk nginx-light libnginx-mod-http-echo h2o gnuplot-nox apache2-utils python3 slowhttptest haproxy)
fi

missing=()
for p in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != "installed" ]]; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
