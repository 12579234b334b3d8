"""Workers mode: mempool-server's master/worker processes beside its threads (issue 14).

  mempool-threaded  one process, 2 reactors (workers = 0)
  mempool-workers   a master and 2 worker processes of 1 reactor each (workers = 2)

Both pinned to CPU 0 like every server here, wrk on CPU 1. Per server and scenario: a warm-up,
then `rounds` timed runs (median req/s, median CPU µs/request: utime + stime of every process of
the server, master and workers summed, over the run / requests); then the server again under
the allocation counter (allocs mode's counted window: every process maps the counter file, so
the workers' allocations add up): heap allocations per request in the workers.
"""
from __future__ import annotations

import statistics
import sys

from . import allocs, report, servers, throughput, wrk
from .context import Context
from .scenarios import ECHO, HELLO

SCENARIOS = (HELLO, ECHO)
NAMES = ("mempool-threaded", "mempool-workers")
CONNECTIONS = 64


def measure(ctx: Context, name: str, args) -> dict[str, dict]:
    figures: dict[str, dict] = {}
    server = servers.start(ctx, name)
    try:
        problems = servers.smoke_check(server, list(SCENARIOS))
        processes = len(server.pids())
        for scenario in SCENARIOS:
            f = figures[scenario.name] = {"processes": processes, "status": "ok"}
            if scenario.name in problems:
                f["status"] = f"FAIL: smoke check: {problems[scenario.name]}"
                continue
            case = throughput.Case(scenario, CONNECTIONS)
            wrk.run(ctx, server, scenario, connections=CONNECTIONS, seconds=throughput.WARMUP_SECONDS,
                    label=f"workers {name} {scenario.name} warm-up")
            rounds = [throughput.measure(ctx, server, case, args.duration, f"workers {name} {case.label}")
                      for _ in range(args.rounds)]
            f["rps"] = statistics.median(r.rps for r in rounds)
            f["cpu_us_per_request"] = statistics.median(r.cpu_us_per_request for r in rounds)
            errors = sum(n for r in rounds for n in r.errors.values())
            if errors:
                f["status"] = f"FAIL: {errors} wrk errors"
            print(f"  {name:16} {case.label}: {f['rps']:,.0f} req/s, {f['cpu_us_per_request']:.1f} CPU µs/req",
                  file=sys.stderr, flush=True)
    finally:
        servers.stop(ctx, server)
    counted = allocs.measure_server(ctx, name, SCENARIOS, args)
    for scenario in SCENARIOS:
        window = counted.windows[scenario.name]
        figures[scenario.name]["allocs_per_request"] = window.per_request
        figures[scenario.name]["allocations"] = window.counts.allocations if window.counts else None
        figures[scenario.name]["alloc_requests"] = window.requests
        if window.status != "ok" and figures[scenario.name]["status"] == "ok":
            figures[scenario.name]["status"] = window.status
    return figures


def run(ctx: Context, args) -> int:
    print(f"workers: {', '.join(NAMES)} x {len(SCENARIOS)} scenarios, c{CONNECTIONS}, {args.rounds} rounds of "
          f"{args.duration} s, then {args.allocs_seconds} s counted for allocations", file=sys.stderr, flush=True)
    results = {name: measure(ctx, name, args) for name in NAMES}
    rows = []
    for name, by_scenario in results.items():
        for scenario in SCENARIOS:
            f = by_scenario[scenario.name]
            rows.append([name, f"{scenario.label} c{CONNECTIONS}", str(f["processes"]), report.count(f.get("rps", 0)),
                         report.fixed(f.get("cpu_us_per_request"), 1), report.fixed(f.get("allocs_per_request"), 3),
                         report.count(f["allocations"]) if f.get("allocations") is not None else "n/a", f["status"]])
    report.emit(ctx.run_dir, "\n## Master/worker processes beside threads (2 reactors in all, CPU 0)\n\n"
                + report.table(["server", "scenario", "processes", "req/s", "CPU µs/req", "allocs/req",
                                "allocations", "status"], rows)
                + "\n\nCPU µs/req sums the master's and the workers' CPU time; allocations are counted in every "
                  "process of the server over allocs mode's window (its connections' set-up included).\n")
    report.write_json(ctx.run_dir / "results.json", {"mode": "workers", "connections": CONNECTIONS, "servers": results})
    failed = any(f["status"].startswith("FAIL") for by in results.values() for f in by.values())
    return 1 if failed else 0
