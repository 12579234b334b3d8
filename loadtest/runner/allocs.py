"""Allocs mode: heap allocations per request of each server, in steady state (DESIGN §6).

Each server starts alone under LD_PRELOAD=liballoc_counter.so with its own counter file, which
every process of the server maps (nginx's master and worker add up). Per scenario: a warm-up wrk
run, a pause, a snapshot of the counters, the counted keep-alive wrk run, a pause (the server
finishes closing its connections), a second snapshot. Allocations per request = allocating
calls in the window / requests wrk completed. The window includes opening and closing the
run's few connections (16 by default), which is why the raw count is shown too: a server at 0
per request shows exactly 0. The `hello-close` scenario (Connection: close) shows the cost of a
whole connection. --trace N makes the counter write a backtrace for N allocations of each window.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import report, servers, symbolize, wrk
from .alloc_file import CounterFile, CounterFileError, Counts
from .context import Context
from .scenarios import ECHO, HELLO, HELLO_CLOSE, HELLO_PIPELINED, STATIC_1K, STATIC_64K, Scenario

SCENARIOS = (HELLO, HELLO_PIPELINED, ECHO, STATIC_1K, STATIC_64K, HELLO_CLOSE)
WARMUP_SECONDS = 2
QUIET_SECONDS = 0.5   # after wrk ends and before a snapshot: the server closes its connections
TRACE_DELAY_SECONDS = 1.0  # backtraces are asked for this far into the window: steady state, not set-up
DESIGN_ANCHORS = {"nginx": "≈ 3.0", "h2o": "≈ 1.1", "mempool": "0 (the bar)"}


@dataclass
class Window:
    """One counted steady run."""
    status: str = "ok"            # "ok", "n/a: why", "FAIL: why"
    requests: int = 0
    counts: Counts | None = None
    traces: str = ""              # grouped, symbolized backtraces (--trace)

    @property
    def per_request(self) -> float | None:
        return self.counts.allocations / self.requests if self.counts and self.requests else None

    @property
    def frees_per_request(self) -> float | None:
        return self.counts.frees / self.requests if self.counts and self.requests else None


@dataclass
class ServerAllocs:
    name: str
    windows: dict[str, Window] = field(default_factory=dict)   # by scenario name


def _trace_text(trace_file: Path, offset: int) -> str:
    if not trace_file.exists():
        return ""
    with open(trace_file, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def count_window(ctx: Context, server: servers.Server, counter: CounterFile, trace_file: Path,
                 scenario: Scenario, args) -> Window:
    """Warm-up, then one counted keep-alive run of the scenario."""
    window = Window()
    try:
        wrk.run(ctx, server, scenario, connections=args.allocs_connections, seconds=WARMUP_SECONDS,
                label=f"allocs {scenario.name} warm-up")
        time.sleep(QUIET_SECONDS)
        trace_offset = trace_file.stat().st_size if trace_file.exists() else 0
        before = counter.snapshot()
        arm = threading.Timer(TRACE_DELAY_SECONDS, counter.request_traces, [args.trace])
        if args.trace:
            arm.start()
        try:
            result = wrk.run(ctx, server, scenario, connections=args.allocs_connections,
                             seconds=args.allocs_seconds, label=f"allocs {scenario.name}")
        finally:
            arm.cancel()
            if args.trace:
                arm.join()
            counter.request_traces(0)
        time.sleep(QUIET_SECONDS)
        window.counts = counter.snapshot().minus(before)
    except (wrk.WrkError, CounterFileError) as e:
        window.status = f"FAIL: {e}"
        return window
    window.requests = result.requests
    if result.error_count:
        window.status = f"FAIL: wrk errors: {result.error_text()}"
    if args.trace:
        window.traces = symbolize.report(_trace_text(trace_file, trace_offset))
    return window


def preload(ctx: Context, name: str, trace: bool = False) -> tuple[dict[str, str], CounterFile, Path]:
    """The environment that starts server `name` under the counter, its counter file and its
    trace file (allocs/<name>.counts and .trace in the run folder)."""
    folder = ctx.run_dir / "allocs"
    folder.mkdir(exist_ok=True)
    counter_path, trace_file = folder / f"{name}.counts", folder / f"{name}.trace"
    env = {"LD_PRELOAD": str(ctx.tool("liballoc_counter.so")), "ALLOC_COUNTER_FILE": str(counter_path)}
    if trace:
        env["ALLOC_COUNTER_TRACE"] = str(trace_file)
    return env, CounterFile(counter_path), trace_file


def measure_server(ctx: Context, name: str, wanted: tuple[Scenario, ...], args) -> ServerAllocs:
    """Starts `name` under the counter, counts each scenario, stops it."""
    env, counter, trace_file = preload(ctx, name, trace=bool(args.trace))
    server = servers.start(ctx, name, env=env)
    result = ServerAllocs(name)
    try:
        problems = servers.smoke_check(server, list(wanted))
        for scenario in wanted:
            unavailable = server.unavailable(scenario)
            if unavailable or scenario.name in problems:
                result.windows[scenario.name] = Window(
                    status=unavailable or f"FAIL: smoke check: {problems[scenario.name]}")
                continue
            window = count_window(ctx, server, counter, trace_file, scenario, args)
            result.windows[scenario.name] = window
            print(f"  {name:8} {scenario.label}: {window.counts.allocations if window.counts else '?'} allocations "
                  f"over {window.requests:,} requests  [{window.status}]", file=sys.stderr, flush=True)
    finally:
        servers.stop(ctx, server)
    return result


# --- reporting --------------------------------------------------------------------------------

def table(results: list[ServerAllocs], wanted: tuple[Scenario, ...]) -> str:
    rows = []
    for r in results:
        for scenario in wanted:
            w = r.windows[scenario.name]
            c = w.counts
            detail = ", ".join(f"{n} {c.values[n]:,}" for n in ("malloc", "calloc", "realloc", "posix_memalign",
                                                                  "aligned_alloc", "memalign", "valloc")
                               if c and c.values[n]) if c else ""
            rows.append([r.name, scenario.label, report.fixed(w.per_request, 3), report.fixed(w.frees_per_request, 3),
                         report.count(c.allocations) if c else "n/a", report.count(w.requests) if c else "n/a",
                         detail or ("—" if c else ""), w.status])
    return report.table(["server", "scenario", "allocs/req", "frees/req", "allocations", "requests",
                         "by function", "status"], rows)


def to_json(results: list[ServerAllocs], args) -> dict:
    return {"mode": "allocs", "connections": args.allocs_connections, "seconds": args.allocs_seconds,
            "servers": {r.name: {name: {"status": w.status, "requests": w.requests,
                                        "allocations_per_request": w.per_request,
                                        "frees_per_request": w.frees_per_request,
                                        "counts": w.counts.values if w.counts else None}
                                 for name, w in r.windows.items()} for r in results}}


def chart(ctx: Context, results: list[ServerAllocs], wanted: tuple[Scenario, ...]) -> None:
    series = {r.name: [r.windows[s.name].per_request for s in wanted] for r in results}
    report.bar_chart(ctx.run_dir / "allocs.png", "heap allocations per request (steady keep-alive; "
                     "hello-close: one connection per request)", "allocations / request",
                     [s.label for s in wanted], series)


def traces_markdown(results: list[ServerAllocs], n: int) -> str:
    if not n:
        return ""
    parts = [f"\n### Backtraces of up to {n} allocations per window, from {TRACE_DELAY_SECONDS:.0f} s into it\n"]
    for r in results:
        traced = {name: w.traces for name, w in r.windows.items() if w.traces}
        if not traced:
            parts.append(f"\n{r.name}: no allocation in its windows after {TRACE_DELAY_SECONDS:.0f} s: nothing to show.\n")
        for name, traces in traced.items():
            parts.append(f"\n#### {r.name}, {name}\n\n```\n{traces}\n```\n")
    return "".join(parts)


def run(ctx: Context, args) -> int:
    print(f"allocs: {len(args.servers)} servers x {len(SCENARIOS)} scenarios, "
          f"{WARMUP_SECONDS} s warm-up + {args.allocs_seconds} s counted each", file=sys.stderr, flush=True)
    results = [measure_server(ctx, name, SCENARIOS, args) for name in args.servers]
    anchors = "; ".join(f"{r.name} {DESIGN_ANCHORS[r.name]}" for r in results if r.name in DESIGN_ANCHORS)
    report.emit(ctx.run_dir, f"\n## Heap allocations per request ({args.allocs_connections} keep-alive "
                             f"connections, {args.allocs_seconds} s counted)\n\n" + table(results, SCENARIOS)
                + f"\n\nDESIGN §6 anchors per keep-alive request: {anchors}.\n" + traces_markdown(results, args.trace))
    report.write_json(ctx.run_dir / "results.json", to_json(results, args))
    chart(ctx, results, SCENARIOS)
    failed = any(w.status.startswith("FAIL") for r in results for w in r.windows.values())
    return 1 if failed else 0
