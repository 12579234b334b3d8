"""Handler mode (issue 13 §5): where the pool pays, on an allocation-heavy handler.

loadtest/bench/json_workload.hpp parses a 2-8 KiB JSON-like body into a tree of maps, vectors and
strings, transforms it and renders the answer; the same code runs on a request pool
(json/mempool-pool) and on the default heap (json/heap), the latter also with jemalloc and
mimalloc preloaded where Debian installed them. Each variant runs alone in its own process of
mempool-bench, pinned to the server CPU, for --handler-seconds over 256 bodies cycled; the
figures are CPU µs/request, heap allocations/request and the process's RSS at the end (and its
peak). No HTTP in the loop: the server's plumbing is the same for every variant, and measured by
the throughput mode.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from . import report
from .context import Context

SERVER_CPU = "0"
LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
VARIANTS = (  # name, benchmark, preloaded allocator (None: glibc)
    ("mempool pool", "json/mempool-pool", None),
    ("heap (glibc)", "json/heap", None),
    ("heap + jemalloc", "json/heap", "libjemalloc.so.2"),
    ("heap + mimalloc", "json/heap", "libmimalloc.so.2"),
)


def measure(ctx: Context, benchmark: str, preload: str | None, seconds: int) -> dict:
    env = dict(os.environ)
    if preload:
        env["LD_PRELOAD"] = str(LIBDIR / preload)
    out = ctx.logs / f"handler-{benchmark.replace('/', '_')}-{preload or 'glibc'}.json"
    cmd = ["taskset", "-c", SERVER_CPU, str(ctx.tool("mempool-bench")), f"--benchmark_filter=^{benchmark}$",
           f"--benchmark_min_time={seconds}", f"--benchmark_out={out}", "--benchmark_out_format=json"]
    subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    run = json.loads(out.read_text())["benchmarks"][0]
    return {"cpu_us": run["cpu_time"] / 1000.0 if run.get("time_unit") == "ns" else run["cpu_time"],
            "heap_allocs": run["heap_allocs"], "rss_mib": run["rss_mib"], "peak_rss_mib": run["peak_rss_mib"],
            "iterations": run["iterations"]}


def run(ctx: Context, args) -> int:
    results = {}
    for name, benchmark, preload in VARIANTS:
        if preload and not (LIBDIR / preload).exists():
            print(f"handler: {name}: {preload} not installed (scripts/setup.sh loadtest), skipped")
            continue
        print(f"handler: {name} for {args.handler_seconds} s ...", flush=True)
        results[name] = measure(ctx, benchmark, preload, args.handler_seconds)
    report.write_json(ctx.run_dir / "results.json", results)
    best_heap = min((r["cpu_us"] for n, r in results.items() if n != "mempool pool"), default=None)
    rows = [[name, report.fixed(r["cpu_us"], 1), report.fixed(r["cpu_us"] / best_heap, 2) if best_heap else "-",
             report.fixed(r["heap_allocs"], 4), report.fixed(r["rss_mib"], 1), report.fixed(r["peak_rss_mib"], 1),
             report.count(r["iterations"])] for name, r in results.items()]
    markdown = (f"## Handler workload: parse, transform, render a 2-8 KiB JSON-like body "
                f"({args.handler_seconds} s per variant, own process, CPU {SERVER_CPU})\n\n"
                + report.table(["variant", "CPU µs/req", "÷ best heap", "heap allocs/req", "RSS MiB at end",
                                "peak RSS MiB", "requests"], rows))
    report.emit(ctx.run_dir, markdown)
    names = list(results)
    report.bar_chart(ctx.run_dir / "handler.png", "Handler workload: CPU µs per request", "CPU µs/request",
                     names, {"CPU µs/request": [results[n]["cpu_us"] for n in names]})
    return 0
