#!/usr/bin/env bash
# The http component as an outside user meets it, from a scratch install of the build tree:
#   1. tests/consumer/http (the issue's program) builds with find_package(mempool COMPONENTS
#      http), answers GET /hi?x with "hi x", and stops cleanly on SIGTERM;
#   2. the installed mempool-server, started from an unrelated folder with no --config, says it
#      loaded <prefix>/share/mempool/server.toml and serves the installed demo root; no path of
#      the source tree is compiled into it.
# Usage: run_installed.sh BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR CXX [SANITIZE]
set -euo pipefail
build=$1 source=$2 work=$3 generator=$4 cxx=$5 sanitize=${6:-}
rm -rf "$work"
mkdir -p "$work/elsewhere"
prefix=$work/prefix
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Waits up to 10 s for a line matching $2 in file $1 and prints the line.
wait_for_line() {
  for _ in $(seq 100); do
    if line=$(grep -m1 -E "$2" "$1"); then echo "$line"; return 0; fi
    sleep 0.1
  done
  fail "no line matching '$2' in $1: $(cat "$1")"
}

# Stops the process $1 with SIGTERM and checks it exits 0 within 10 s.
stop_cleanly() {
  kill -TERM "$1"
  local status=0
  wait "$1" || status=$?
  [[ $status -eq 0 ]] || fail "exit status $status after SIGTERM"
}

cmake --install "$build" --prefix "$prefix" >/dev/null

echo "--- 1. the issue's program against the installed mempool::http"
flags=""
[[ -n "$sanitize" ]] && flags="-fsanitize=$sanitize"
cmake -S "$source/tests/consumer/http" -B "$work/http" -G "$generator" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_FLAGS="$flags" >/dev/null
cmake --build "$work/http" >/dev/null
(cd "$work/elsewhere" && exec "$work/http/hi" >"$work/hi.out" 2>"$work/hi.err") &
pids+=($!)
port=$(wait_for_line "$work/hi.out" '^[0-9]+$')
answer=$(curl -sS --max-time 5 "http://127.0.0.1:$port/hi?x")
[[ "$answer" == "hi x" ]] || fail "GET /hi?x answered '$answer'"
stop_cleanly "${pids[-1]}"
echo "GET /hi?x -> $answer"

echo "--- 2. the installed mempool-server, run from elsewhere"
if grep -qF "$source/config" "$prefix/bin/mempool-server"; then
  fail "the installed mempool-server contains the source tree's config path $source/config"
fi
# mempool-server's --listen takes ports 1 to 65535: ask the kernel for a free one (and try again
# should another process take it first).
for attempt in 1 2 3; do
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  (cd "$work/elsewhere" && exec "$prefix/bin/mempool-server" --listen "127.0.0.1:$port" --reactors 1 2>"$work/server.err") &
  pids+=($!)
  wait_for_line "$work/server.err" "config: $prefix/share/mempool/server.toml\$" >/dev/null
  sleep 0.2
  if kill -0 "${pids[-1]}" 2>/dev/null; then break; fi
  [[ $attempt -lt 3 ]] || fail "mempool-server did not start: $(cat "$work/server.err")"
done
wait_for_line "$work/server.err" "listening on http://127\.0\.0\.1:$port/" >/dev/null
curl -sS --max-time 5 "http://127.0.0.1:$port/" | cmp -s - "$prefix/share/mempool/www/index.html" ||
  fail "GET / is not the installed www/index.html"
[[ "$(curl -sS --max-time 5 "http://127.0.0.1:$port/hello")" == "Hello, World!" ]] || fail "GET /hello"
stop_cleanly "${pids[-1]}"
grep -q "stopped: .* 0 pools outstanding" "$work/server.err" || fail "no clean stop report: $(cat "$work/server.err")"
echo "mempool-server found $prefix/share/mempool/server.toml and served its www/"
