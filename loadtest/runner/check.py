"""Check mode: the instruments against answers known in advance, before anyone trusts them.

  1. tools/alloc_counter_check under the preload: exact counts of every function, across a fork
     and from four threads at once.
  2. The allocs mode's whole pipeline (preload, counter file, wrk, windows) on
     tools/fixed_cost_server, which makes exactly 3 allocations per request and 1 per connection.
  3. The idle mode's whole pipeline on fixed_cost_server, whose idle connection holds exactly
     one malloc(4096): glibc gives it a 4112-byte chunk; and the counter during that window: per
     connection its malloc(4096) and its one request's 3 allocations of 64 bytes.
"""
from __future__ import annotations

import os
import sys

from . import allocs, idle, report, servers, wrk
from .context import Context
from .scenarios import HELLO, HELLO_CLOSE

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
