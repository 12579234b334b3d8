"""Soak mode: a long run against mempool-server alone (DESIGN §6: RSS growth < 1 %, 0 pools
outstanding at the end).

Cycles of wrk runs, each bounded in time: one keep-alive run of every scenario (64 connections,
/hello, POST /echo, /1k.txt, /64k.bin) and one churn run (GET /hello with Connection: close:
one new connection per request), until --soak-requests requests were answered and
--soak-connections connections churned (or --soak-max-seconds passed). The first cycle is the
warm-up. RSS is sampled every second into soak.csv (and soak.png). Growth = (RSS after the last
cycle - RSS after the warm-up) / RSS after the warm-up, both read after a quiet pause. At the end
GET /stats: pool_manager.outstanding summed over reactors must be at most 1, the connection
that asks for /stats itself.
"""
from __future__ import annotations

import http.client
import sys
import threading
import time
from dataclasses import dataclass, field

from . import report, servers, wrk
from .context import Context
from .procs import Memory, memory
from .scenarios import HELLO_CLOSE, PATHS

RUN_SECONDS = 3
CONNECTIONS = 64
QUIET_SECONDS = 2.0
SAMPLE_SECONDS = 1.0
GROWTH_BAR = 0.01
OUTSTANDING_ALLOWED = 1   # the /stats request's own connection pool


@dataclass
class Totals:
    requests: int = 0
    churned: int = 0          # connections of the churn runs: one per request
    runs: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class Sampler(threading.Thread):
    """Reads the server's memory every second; the main thread names the phase."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.phase = "start"
        self.samples: list[tuple[float, Memory, str]] = []
        self._halt = threading.Event()
        self._began = time.monotonic()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.monotonic() - self._began, memory(self.pids), self.phase))
            self._halt.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def one_cycle(ctx: Context, server: servers.Server, totals: Totals) -> None:
    for scenario in (*PATHS, HELLO_CLOSE):
        result = wrk.run(ctx, server, scenario, connections=CONNECTIONS, seconds=RUN_SECONDS,
                         label=f"soak {scenario.name}")
        totals.requests += result.requests
        totals.churned += result.requests if scenario.close else 0
        totals.runs += 1
        for kind, n in result.errors.items():
            totals.errors[kind] = totals.errors.get(kind, 0) + n


def write_csv(ctx: Context, sampler: Sampler) -> None:
    with open(ctx.run_dir / "soak.csv", "w") as f:
        f.write("seconds,rss_kib,anonymous_kib,private_dirty_kib,phase\n")
        for t, m, phase in sampler.samples:
            f.write(f"{t:.1f},{m.vm_rss},{m.anonymous},{m.private_dirty},{phase}\n")


def soak(ctx: Context, server: servers.Server, args, sampler: Sampler, totals: Totals) -> tuple[Memory, Memory]:
    """The cycles; returns the memory after the warm-up and after the last cycle."""
    deadline = time.monotonic() + args.soak_max_seconds
    sampler.phase = "warm-up"
    one_cycle(ctx, server, totals)
    sampler.phase = "quiet"
    time.sleep(QUIET_SECONDS)
    baseline = memory(server.pids())
    while (totals.requests < args.soak_requests or totals.churned < args.soak_connections) \
            and time.monotonic() < deadline and server.proc.poll() is None:
        sampler.phase = "soak"
        one_cycle(ctx, server, totals)
        print(f"  {totals.requests:,} requests, {totals.churned:,} connections churned, "
              f"RSS {report.mib(memory(server.pids()).vm_rss)} MiB", file=sys.stderr, flush=True)
    sampler.phase = "quiet"
    time.sleep(QUIET_SECONDS)
    return baseline, memory(server.pids())


def fetch_stats_or_nothing(server: servers.Server) -> dict:
    """GET /stats; {} when the server does not answer (the checks then fail visibly)."""
    try:
        return servers.fetch_stats(server)
    except (OSError, ValueError, http.client.HTTPException) as e:
        report.warn(f"GET /stats failed: {e}")
        return {}


def run(ctx: Context, args) -> int:
    if args.servers != ["mempool"]:
        print("soak: runs against mempool alone (it reads mempool's /stats)", file=sys.stderr)
    print(f"soak: until {args.soak_requests:,} requests and {args.soak_connections:,} churned connections "
          f"(at most {args.soak_max_seconds} s)", file=sys.stderr, flush=True)
    server = servers.start(ctx, "mempool")
    problems = servers.smoke_check(server, [*PATHS, HELLO_CLOSE])
    if problems:
        report.emit(ctx.run_dir, f"soak: smoke check failed: {problems}")
        return 1
    sampler = Sampler(server.pids())
    sampler.start()
    totals = Totals()
    started = time.monotonic()
    try:
        baseline, final = soak(ctx, server, args, sampler, totals)
        stats = fetch_stats_or_nothing(server)
    except wrk.WrkError as e:
        report.emit(ctx.run_dir, f"soak: FAIL: {e}")
        return 1
    finally:
        sampler.stop()
    write_csv(ctx, sampler)
    return summarize(ctx, args, totals, baseline, final, stats, sampler, time.monotonic() - started, server)


def summarize(ctx, args, totals: Totals, baseline: Memory, final: Memory, stats: dict, sampler: Sampler,
              elapsed: float, server: servers.Server) -> int:
    growth = (final.vm_rss - baseline.vm_rss) / baseline.vm_rss
    peak = max((m.vm_rss for t, m, phase in sampler.samples if phase == "soak"), default=final.vm_rss)
    outstanding = servers.sum_over_reactors(stats, "pool_manager", "outstanding")
    errors = sum(totals.errors.values())
    alive = server.proc.poll() is None
    checks = [
        ("requests answered", f"{totals.requests:,}", f"≥ {args.soak_requests:,}", totals.requests >= args.soak_requests),
        ("connections churned", f"{totals.churned:,}", f"≥ {args.soak_connections:,}",
         totals.churned >= args.soak_connections),
        ("RSS growth after warm-up", f"{growth * 100:+.2f}% ({report.mib(baseline.vm_rss)} → "
         f"{report.mib(final.vm_rss)} MiB, peak {report.mib(peak)})", f"< {GROWTH_BAR * 100:.0f}%", growth < GROWTH_BAR),
        ("pools outstanding at the end (/stats)", str(outstanding), f"≤ {OUTSTANDING_ALLOWED} (the /stats connection)",
         outstanding <= OUTSTANDING_ALLOWED),
        ("wrk errors", str(errors) + (f" ({totals.errors})" if errors else ""), "0", errors == 0),
        ("server still running", "yes" if alive else "no", "yes", alive),
    ]
    rows = [[what, got, want, "PASS" if ok else "FAIL"] for what, got, want, ok in checks]
    accepts = servers.sum_over_reactors(stats, "server", "accepts")
    report.emit(ctx.run_dir, f"\n## Soak ({elapsed:.0f} s, {totals.runs} wrk runs of {RUN_SECONDS} s, "
                             f"{accepts:,} connections accepted by the server)\n\n"
                + report.table(["check", "measured", "bar", "verdict"], rows) + "\n")
    report.write_json(ctx.run_dir / "results.json", {
        "mode": "soak", "seconds": elapsed, "requests": totals.requests, "connections_churned": totals.churned,
        "connections_accepted": accepts, "wrk_errors": totals.errors, "rss_kib": {
            "after_warmup": vars(baseline), "final": vars(final), "peak_during_soak": peak},
        "rss_growth": growth, "outstanding_pools": outstanding, "stats_at_end": stats,
        "checks": {what: ok for what, _, _, ok in checks}})
    report.line_chart(ctx.run_dir / "soak.png", "mempool-server RSS during the soak (sampled every second)",
                      ctx.run_dir / "soak.csv", 1, 2, "seconds", "RSS MiB", y_scale=1 / 1024,
                      hline=baseline.vm_rss / 1024 * (1 + GROWTH_BAR), hline_title="warm-up RSS + 1 %")
    return 0 if all(ok for *_, ok in checks) else 1
