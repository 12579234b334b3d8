"""Throughput mode (the default): each server under each scenario, in interleaved rounds.

All servers run at once, pinned to CPU 0; wrk runs on CPU 1, one at a time. For every case
(a scenario at a connection count) each server first gets a warm-up run, then `rounds` timed
runs in the order A B C, C B A, A B C ... so drift on a shared machine hits every server alike.
Per server and case: median requests/s, median p50 and p99 latency, median CPU time per request
(utime + stime of the server's processes over the run / requests), RSS after the case, and
mempool's ratio to each peer with DESIGN §6's bar.
"""
from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field

from . import report, servers, wrk
from .context import Context
from .procs import cpu_seconds, memory
from .scenarios import ECHO, HELLO, PATHS, STATIC_1K, STATIC_64K, Scenario

QUICK_CASES = ((HELLO, 64), (ECHO, 64), (STATIC_1K, 64), (STATIC_64K, 64), (HELLO, 1), (HELLO, 256))
WARMUP_SECONDS = 1
REFERENCE = "mempool"


@dataclass(frozen=True)
class Case:
    scenario: Scenario
    connections: int

    @property
    def label(self) -> str:
        return f"{self.scenario.label} c{self.connections}"


@dataclass
class Round:
    rps: float
    p50_us: float
    p99_us: float
    requests: int
    cpu_us_per_request: float
    errors: dict[str, int]


@dataclass
class Cell:
    """One server in one case."""
    status: str = "ok"                      # "ok", "n/a: why", "FAIL: why"
    rounds: list[Round] = field(default_factory=list)
    rss_kib: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.rounds)

    def median(self, attribute: str) -> float | None:
        return statistics.median(getattr(r, attribute) for r in self.rounds) if self.rounds else None

    def spread(self) -> float | None:
        """(max - min) / median of requests/s over the rounds: how noisy this cell was."""
        if len(self.rounds) < 2:
            return None
        values = [r.rps for r in self.rounds]
        return (max(values) - min(values)) / statistics.median(values)

    def fail(self, why: str) -> None:
        if self.status == "ok":
            self.status = f"FAIL: {why}"


def plan(connections: list[int] | None) -> list[Case]:
    if connections:
        return [Case(s, c) for c in connections for s in PATHS]
    return [Case(s, c) for s, c in QUICK_CASES]


# --- measuring --------------------------------------------------------------------------------

def measure(ctx: Context, server: servers.Server, case: Case, seconds: int, label: str) -> Round:
    pids = server.pids()
    cpu_before = cpu_seconds(pids)
    result = wrk.run(ctx, server, case.scenario, connections=case.connections, seconds=seconds, label=label)
    cpu_used = cpu_seconds(pids) - cpu_before
    return Round(rps=result.rps, p50_us=result.latency_us["p50"], p99_us=result.latency_us["p99"],
                 requests=result.requests, cpu_us_per_request=cpu_used * 1e6 / max(result.requests, 1),
                 errors=result.errors)


def prepare_cells(case: Case, running: list[servers.Server], smoke: dict[str, dict[str, str]]) -> dict[str, Cell]:
    cells = {}
    for server in running:
        cell = Cell()
        unavailable = server.unavailable(case.scenario)
        if unavailable:
            cell.status = unavailable
        elif case.scenario.name in smoke[server.name]:
            cell.fail(f"smoke check: {smoke[server.name][case.scenario.name]}")
        cells[server.name] = cell
    return cells


def run_once(ctx: Context, server: servers.Server, case: Case, cell: Cell, seconds: int, label: str) -> None:
    """One timed round of one server, recorded in its cell; errors fail the cell visibly."""
    try:
        r = measure(ctx, server, case, seconds, label)
    except wrk.WrkError as e:
        cell.fail(str(e))
        return
    cell.rounds.append(r)
    errors = ", ".join(f"{k} {n}" for k, n in r.errors.items() if n)
    if errors:
        cell.fail(f"wrk errors: {errors}")
    if server.proc.poll() is not None:
        cell.fail(f"the server exited (code {server.proc.returncode}); see {server.log}")
    print(f"  {server.name:8} {label}: {r.rps:,.0f} req/s, p99 {r.p99_us:,.0f} µs"
          + (f"  [{cell.status}]" if not cell.ok else ""), file=sys.stderr, flush=True)


def run_case(ctx: Context, case: Case, running: list[servers.Server], smoke, args) -> dict[str, Cell]:
    cells = prepare_cells(case, running, smoke)
    active = [s for s in running if cells[s.name].status == "ok"]
    print(f"{case.label}:", file=sys.stderr, flush=True)
    for server in active:
        try:
            wrk.run(ctx, server, case.scenario, connections=case.connections, seconds=WARMUP_SECONDS,
                    label=f"{case.label} warm-up")
        except wrk.WrkError as e:
            cells[server.name].fail(f"warm-up: {e}")
    for round_index in range(args.rounds):
        order = active if round_index % 2 == 0 else active[::-1]
        for server in order:
            if cells[server.name].status == "ok":
                run_once(ctx, server, case, cells[server.name], args.duration,
                         f"{case.label} round {round_index + 1}")
    for server in active:
        cells[server.name].rss_kib = memory(server.pids()).vm_rss
    return cells


# --- reporting --------------------------------------------------------------------------------

def ratio(cells: dict[str, Cell], peer: str, attribute: str) -> float | None:
    mine, theirs = cells.get(REFERENCE), cells.get(peer)
    if mine is None or theirs is None or not mine.ok or not theirs.ok:
        return None
    denominator = theirs.median(attribute)
    return mine.median(attribute) / denominator if denominator else None


def bar(case: Case, cells: dict[str, Cell]) -> str:
    """DESIGN §6: >= 1.0x nginx on every path, >= 1.0x h2o on static files, p99 no worse."""
    peers = ["nginx"] + (["h2o"] if case.scenario.static else [])
    verdicts = []
    for peer in peers:
        rps, p99 = ratio(cells, peer, "rps"), ratio(cells, peer, "p99_us")
        if rps is None or p99 is None:
            continue
        misses = (["req/s"] if rps < 1.0 else []) + (["p99"] if p99 > 1.0 else [])
        verdicts.append(f"missed vs {peer} ({', '.join(misses)})" if misses else f"met vs {peer}")
    return "; ".join(verdicts) if verdicts else "n/a"


def results_table(cases: list[Case], cells_by_case: dict[Case, dict[str, Cell]], names: list[str]) -> str:
    rows = []
    for case in cases:
        for name in names:
            cell = cells_by_case[case][name]
            spread = cell.spread()
            rows.append([case.scenario.label, str(case.connections), name,
                         report.fixed(cell.median("rps"), 0), "n/a" if spread is None else f"{spread * 100:.0f}%",
                         report.fixed(cell.median("p50_us"), 0), report.fixed(cell.median("p99_us"), 0),
                         report.fixed(cell.median("cpu_us_per_request"), 2),
                         "n/a" if cell.rss_kib is None else report.mib(cell.rss_kib), cell.status])
    return report.table(["scenario", "conns", "server", "req/s", "spread", "p50 µs", "p99 µs", "CPU µs/req",
                         "RSS MiB", "status"], rows)


def ratio_table(cases: list[Case], cells_by_case: dict[Case, dict[str, Cell]], names: list[str]) -> str:
    peers = [n for n in names if n != REFERENCE]
    headers = ["scenario", "conns"]
    for peer in peers:
        headers += [f"req/s vs {peer}", f"p99 vs {peer}"]
    headers.append("bar")
    rows = []
    for case in cases:
        cells = cells_by_case[case]
        row = [case.scenario.label, str(case.connections)]
        for peer in peers:
            row += [report.ratio(ratio(cells, peer, "rps")), report.ratio(ratio(cells, peer, "p99_us"))]
        rows.append(row + [bar(case, cells)])
    return report.table(headers, rows)


def to_json(ctx: Context, args, cases, cells_by_case, running) -> dict:
    out_cases = []
    for case in cases:
        cells = cells_by_case[case]
        out_cases.append({
            "scenario": case.scenario.name, "label": case.scenario.label, "connections": case.connections,
            "servers": {name: {"status": c.status, "rps": c.median("rps"), "p50_us": c.median("p50_us"),
                               "p99_us": c.median("p99_us"), "cpu_us_per_request": c.median("cpu_us_per_request"),
                               "rss_kib": c.rss_kib, "rounds": [vars(r) for r in c.rounds]}
                        for name, c in cells.items()},
            "ratios": {peer: {"rps": ratio(cells, peer, "rps"), "p99": ratio(cells, peer, "p99_us")}
                       for peer in cells if peer != REFERENCE},
            "bar": bar(case, cells)})
    return {"mode": "throughput", "rounds": args.rounds, "seconds_per_round": args.duration,
            "servers": {s.name: {"notes": s.notes} for s in running}, "versions": servers.versions(ctx),
            "cases": out_cases}


def chart(ctx: Context, cases, cells_by_case, names) -> None:
    series = {name: [cells_by_case[c][name].median("rps") if cells_by_case[c][name].ok else None for c in cases]
              for name in names}
    report.bar_chart(ctx.run_dir / "throughput.png", "requests/s (median of rounds; server on CPU 0, wrk on CPU 1)",
                     "requests/s", [c.label for c in cases], series)


# --- the mode ---------------------------------------------------------------------------------

def run(ctx: Context, args) -> int:
    cases = plan(args.connections)
    running = [servers.start(ctx, name) for name in args.servers]
    smoke = {s.name: servers.smoke_check(s, list(PATHS)) for s in running}
    runs = len(cases) * len(running) * (args.rounds * args.duration + WARMUP_SECONDS)
    print(f"throughput: {len(cases)} cases x {len(running)} servers x {args.rounds} rounds of {args.duration} s "
          f"(about {runs // 60} min {runs % 60} s); results in {ctx.run_dir}", file=sys.stderr, flush=True)
    started = time.monotonic()
    cells_by_case = {case: run_case(ctx, case, running, smoke, args) for case in cases}
    names = [s.name for s in running]
    report.emit(ctx.run_dir, f"\n## Throughput ({args.rounds} rounds of {args.duration} s, "
                             f"{time.monotonic() - started:.0f} s in all)\n\n"
                + results_table(cases, cells_by_case, names) + "\n\n### mempool / peer (req/s: higher is better; "
                + "p99: lower is better)\n\n" + ratio_table(cases, cells_by_case, names) + "\n\nNotes: "
                + "; ".join(f"{s.name} {k}: {v}" for s in running for k, v in s.notes.items()) + "\n")
    report.write_json(ctx.run_dir / "results.json", to_json(ctx, args, cases, cells_by_case, running))
    chart(ctx, cases, cells_by_case, names)
    failed = any(c.status.startswith("FAIL") for cells in cells_by_case.values() for c in cells.values())
    return 1 if failed else 0
