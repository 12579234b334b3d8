"""Check mode: the instruments against answers known in advance, before anyone trusts them.

  1. tools/alloc_counter_check under the preload: exact counts of every function, across a fork
     and from four threads at once.
  2. The allocs mode's whole pipeline (preload, counter file, wrk, windows) on
     tools/fixed_cost_server, which makes exactly 3 allocations per request and 1 per connection.
  3. The idle mode's whole pipeline on fixed_cost_server, whose idle connection holds exactly
     one malloc(4096): glibc gives it a 4112-byte chunk; and the counter during that window: per
     connection its malloc(4096) and its one request's 3 allocations of 64 bytes.
  4. tools/floor_server: 16 pipelined requests in one write get 16 whole answers, and a head that
     arrives a byte at a time gets exactly one.
  5. tools/steady_client (attack and cluster modes) against the floor: every request due at the
     rate is sent and answered, half on kept-alive connections and half on new ones; against a
     closed port every one fails as a connect error.
"""
from __future__ import annotations

import os
import socket
import sys
import time

from . import allocs, attack, idle, report, servers, wrk
from .context import Context
from .procs import free_port
from .scenarios import HELLO, HELLO_CLOSE, HELLO_PIPELINED

PER_REQUEST = servers.FIXED_COST_ALLOCS_PER_REQUEST
PER_CONNECTION = 1
IDLE_BYTES = (servers.FIXED_COST_BYTES_PER_CONNECTION + 8 + 15) // 16 * 16  # glibc chunk: size + 8, 16-aligned
IDLE_HEAP_BYTES = servers.FIXED_COST_BYTES_PER_CONNECTION + PER_REQUEST * 64  # its buffer, its request's 3 x 64 B
ALLOCS_TOLERANCE = 0.01     # per request: the window's few connection set-ups
IDLE_TOLERANCE = 0.03       # 3 %: page granularity and the heap's own bookkeeping


def counter_self_check(ctx: Context) -> tuple[bool, str]:
    env = {**os.environ, "LD_PRELOAD": str(ctx.tool("liballoc_counter.so")),
           "ALLOC_COUNTER_FILE": str(ctx.run_dir / "alloc_counter_check.counts")}
    code, out, err = ctx.processes.run([str(ctx.tool("alloc_counter_check"))], cpu=None, timeout=60, env=env)
    (ctx.logs / "alloc_counter_check.log").write_text(out + err)
    last = out.strip().splitlines()[-1] if out.strip() else err.strip()
    return code == 0, last


def within(value: float | None, want: float, tolerance: float, relative: bool) -> bool:
    if value is None:
        return False
    allowed = want * tolerance if relative else tolerance
    return abs(value - want) <= allowed


def run(ctx: Context, args) -> int:
    rows = []
    ok, summary = counter_self_check(ctx)
    rows.append(["alloc_counter_check (exact counts)", summary, "0 failed", "PASS" if ok else "FAIL"])

    measured = allocs.measure_server(ctx, "fixed-cost", (HELLO, HELLO_CLOSE), args)
    keep_alive, close = measured.windows[HELLO.name], measured.windows[HELLO_CLOSE.name]
    for label, window, want in (("allocs/request, keep-alive", keep_alive, PER_REQUEST),
                                ("allocs/request, Connection: close", close, PER_REQUEST + PER_CONNECTION)):
        good = window.status == "ok" and within(window.per_request, want, ALLOCS_TOLERANCE, relative=False)
        rows.append([f"fixed_cost_server {label}", report.fixed(window.per_request, 4),
                     f"{want} ± {ALLOCS_TOLERANCE}", "PASS" if good else f"FAIL {window.status}"])

    result = idle_check(ctx, args)
    heap = result.heap_per_connection()
    # Each idle connection first had its one request answered: its allocations count too.
    for label, got, want in (("mallocs/idle conn", heap[0] if heap else None, PER_CONNECTION + PER_REQUEST),
                             ("malloc B/idle conn", heap[1] if heap else None, IDLE_HEAP_BYTES)):
        good = result.status == "ok" and within(got, want, ALLOCS_TOLERANCE, relative=True)
        rows.append([f"fixed_cost_server {label}", report.fixed(got, 2), f"{want} ± {ALLOCS_TOLERANCE * 100:.0f}%",
                     "PASS" if good else f"FAIL {result.status}"])
    for attribute in ("vm_rss", "anonymous"):
        got = result.per_connection(attribute)
        good = result.status == "ok" and within(got, IDLE_BYTES, IDLE_TOLERANCE, relative=True)
        rows.append([f"fixed_cost_server B/idle conn ({attribute})", report.fixed(got, 0),
                     f"{IDLE_BYTES} ± {IDLE_TOLERANCE * 100:.0f}%", "PASS" if good else f"FAIL {result.status}"])

    rows += floor_checks(ctx) + steady_client_checks(ctx)

    report.emit(ctx.run_dir, "\n## Instrument checks\n\n" + report.table(["check", "measured", "expected", "verdict"],
                                                                          rows) + "\n")
    report.write_json(ctx.run_dir / "results.json", {"mode": "check", "checks": [
        {"check": r[0], "measured": r[1], "expected": r[2], "verdict": r[3]} for r in rows]})
    return 0 if all(r[3] == "PASS" for r in rows) else 1


def idle_check(ctx: Context, args) -> idle.IdleResult:
    env, counter, _ = allocs.preload(ctx, "fixed-cost-idle")
    server = servers.start(ctx, "fixed-cost", env=env)
    try:
        wrk.run(ctx, server, HELLO, connections=idle.WARMUP_CONNECTIONS, seconds=idle.WARMUP_SECONDS,
                label="check idle warm-up")
        result = idle.measure(ctx, server, args.idle_connections, counter)
    finally:
        servers.stop(ctx, server)
    print(f"  fixed-cost {report.fixed(result.per_connection('vm_rss'), 0)} B per idle connection "
          f"(expected {IDLE_BYTES})", file=sys.stderr, flush=True)
    return result


def verdict(good: bool) -> str:
    return "PASS" if good else "FAIL"


def floor_checks(ctx: Context) -> list[list[str]]:
    server = servers.start(ctx, "floor")
    try:
        pipelined = servers.smoke_check(server, [HELLO_PIPELINED]).get(HELLO_PIPELINED.name)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            for byte in "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n".encode():
                sock.sendall(bytes([byte]))
                time.sleep(0.001)
            answers = servers.read_responses(sock, 1)
            sock.settimeout(0.5)
            try:
                extra = sock.recv(1)  # nothing more may come
            except socket.timeout:
                extra = b""
    finally:
        servers.stop(ctx, server)
    one = len(answers) == 1 and answers[0] == (200, b"Hello, World!") and not extra
    return [["floor_server: 16 pipelined requests in one write", pipelined or "16 right answers", "16 right answers",
             verdict(pipelined is None)],
            ["floor_server: a head sent a byte at a time", "1 answer" if one else f"{answers} + {extra!r}",
             "1 answer", verdict(one)]]


def steady_client_checks(ctx: Context) -> list[list[str]]:
    rate, seconds = 200, 2
    due = rate * seconds
    server = servers.start(ctx, "floor")
    try:
        argv = [str(ctx.tool("steady_client")), "--port", str(server.port), "--rate", str(rate),
                "--seconds", str(seconds), "--timeout-ms", "2000"]
        served = attack.run_client(ctx, argv, "check steady_client on the floor")
    finally:
        servers.stop(ctx, server)
    closed_port = free_port()  # nothing listens there
    refused = attack.run_client(ctx, [str(ctx.tool("steady_client")), "--port", str(closed_port), "--rate", "50",
                                      "--seconds", "1", "--timeout-ms", "2000"], "check steady_client, closed port")
    kinds = served.get("by_kind", {})
    halves = kinds.get("keepalive", {}).get("answered") == due // 2 and kinds.get("new", {}).get("answered") == due // 2
    good = served["due"] == due and served["answered"] == due and served["failed"] == 0 and halves
    all_refused = refused["due"] == 50 and refused["failures"]["connect"] == 50 and refused["answered"] == 0
    return [["steady_client: 200 req/s for 2 s against the floor",
             f"{served['answered']} of {served['due']} answered ({kinds.get('keepalive', {}).get('answered')} kept "
             f"alive, {kinds.get('new', {}).get('answered')} new), {served['failed']} failed",
             f"{due} of {due} answered ({due // 2} + {due // 2}), 0 failed", verdict(good)],
            ["steady_client: 50 req/s for 1 s against a closed port",
             f"{refused['failures']['connect']} connect failures of {refused['due']}", "50 connect failures of 50",
             verdict(all_refused)]]
