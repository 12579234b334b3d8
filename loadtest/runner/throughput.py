"""Throughput mode (the default): each server under each scenario, in interleaved rounds.

All servers run at once, pinned to CPU 0; wrk runs on CPU 1, one at a time. For every case
(a scenario at a connection count) each server first gets a warm-up run, then `rounds` timed
runs in the order A B C, C B A, A B C ... so drift on a shared machine hits every server alike.
Per server and case: median requests/s, median p50 and p99 latency, median CPU time per request
(utime + stime of the server's processes over the run / requests), that CPU time over the
floor server's, RSS after the case, and mempool's ratio to each peer with DESIGN §6's bar.

Where the client is the bottleneck (every server reaches about the same req/s), req/s says
nothing about the servers: the bar is then on CPU µs/request, p99 beside it.
"""
from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field

from . import report, servers, wrk
from .context import Context
from .procs import cpu_seconds, memory
from .scenarios import ECHO, HELLO, HELLO_PIPELINED, PATHS, PIPELINE_DEPTH, STATIC_1K, STATIC_64K, Scenario

SCENARIOS = (*PATHS, HELLO_PIPELINED)
QUICK_CASES = ((HELLO, 64), (HELLO_PIPELINED, 64), (ECHO, 64), (STATIC_1K, 64), (STATIC_64K, 64), (HELLO, 1),
               (HELLO, 256))
WARMUP_SECONDS = 1
REFERENCE = "mempool"
FLOOR = "floor"
PORTABLE = "mempool-portable"
PEERS = ("nginx", "h2o")              # the servers mempool's bar is measured against
CLIENT_BOUND_SPREAD = 0.15            # (max - min) / max of the servers' req/s at or below this: client-bound
HELLO_FLOOR_BAR = 1.1                 # DESIGN §6: CPU µs/request on /hello <= 1.1x the floor's
PIPELINED_FLOOR_BAR = 2.5             # ... pipelined: <= 2.5x the floor's
PIPELINED_NGINX_RPS_BAR = 5.0         # ... and >= 5x nginx's req/s (issue 13)


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
        return [Case(s, c) for c in connections for s in SCENARIOS]
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


# --- the bar ----------------------------------------------------------------------------------

def ratio(cells: dict[str, Cell], peer: str, attribute: str, mine: str = REFERENCE) -> float | None:
    """mine's median of attribute ÷ peer's; None unless both were measured."""
    a, b = cells.get(mine), cells.get(peer)
    if a is None or b is None or not a.ok or not b.ok:
        return None
    denominator = b.median(attribute)
    return a.median(attribute) / denominator if denominator else None


def rps_spread(cells: dict[str, Cell]) -> float | None:
    """(max - min) / max of the measured servers' median req/s in one case."""
    values = [c.median("rps") for c in cells.values() if c.ok]
    return (max(values) - min(values)) / max(values) if len(values) >= 2 and max(values) > 0 else None


def client_bound(case: Case, cells: dict[str, Cell]) -> bool:
    """Every server reached about the same req/s: wrk was the bottleneck, not the servers. At one
    connection the client waits for each answer: req/s is 1 / latency there, and it is the bar."""
    spread = rps_spread(cells)
    return case.connections > 1 and spread is not None and spread <= CLIENT_BOUND_SPREAD


@dataclass
class Check:
    """One condition of the bar: mempool's figure ÷ another's against a limit."""
    what: str                 # "CPU ≤ 1.1× floor"
    value: float | None       # the measured ratio
    limit: float
    at_least: bool = False    # the ratio must be >= limit (req/s), else <= limit (CPU, p99)

    @property
    def ok(self) -> bool:
        return self.value is not None and (self.value >= self.limit if self.at_least else self.value <= self.limit)

    def text(self) -> str:
        return f"{self.what} ({report.ratio(self.value)})"


def checks(case: Case, cells: dict[str, Cell]) -> list[Check]:
    """DESIGN §6 and issue 13 for one case; only the conditions whose figures were measured."""
    scenario = case.scenario
    if scenario.pipeline > 1:
        found = [Check(f"CPU ≤ {PIPELINED_FLOOR_BAR}× floor", ratio(cells, FLOOR, "cpu_us_per_request"),
                       PIPELINED_FLOOR_BAR),
                 Check("p99 ≤ nginx", ratio(cells, "nginx", "p99_us"), 1.0),
                 Check(f"req/s ≥ {PIPELINED_NGINX_RPS_BAR:g}× nginx", ratio(cells, "nginx", "rps"),
                       PIPELINED_NGINX_RPS_BAR, at_least=True)]
    else:
        bound = client_bound(case, cells)
        found = []
        for peer in PEERS:
            if bound:
                found.append(Check(f"CPU ≤ {peer}", ratio(cells, peer, "cpu_us_per_request"), 1.0))
            elif peer == "nginx" or scenario.static:
                found.append(Check(f"req/s ≥ {peer}", ratio(cells, peer, "rps"), 1.0, at_least=True))
            if peer == "nginx" or scenario.static:
                found.append(Check(f"p99 ≤ {peer}", ratio(cells, peer, "p99_us"), 1.0))
        if scenario.hello_keep_alive:
            found.append(Check(f"CPU ≤ {HELLO_FLOOR_BAR}× floor", ratio(cells, FLOOR, "cpu_us_per_request"),
                               HELLO_FLOOR_BAR))
    return [c for c in found if c.value is not None]


def bar_on(case: Case, cells: dict[str, Cell]) -> str:
    if case.scenario.pipeline > 1:
        return "CPU µs/req, p99, req/s (pipelined)"
    if client_bound(case, cells):
        return "CPU µs/req, p99 (client-bound)"
    return "req/s, p99 (1 connection: latency)" if case.connections == 1 else "req/s, p99"


def verdict(case: Case, cells: dict[str, Cell]) -> str:
    found = checks(case, cells)
    if not found:
        return "n/a"
    missed = [c.text() for c in found if not c.ok]
    return "met" if not missed else "missed: " + "; ".join(missed)


# --- reporting --------------------------------------------------------------------------------

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
                         report.ratio(ratio(cells_by_case[case], FLOOR, "cpu_us_per_request", mine=name)),
                         "n/a" if cell.rss_kib is None else report.mib(cell.rss_kib), cell.status])
    return report.table(["scenario", "conns", "server", "req/s", "spread", "p50 µs", "p99 µs", "CPU µs/req",
                         "CPU ÷ floor", "RSS MiB", "status"], rows)


def bar_table(cases: list[Case], cells_by_case: dict[Case, dict[str, Cell]], names: list[str]) -> str:
    peers = [n for n in PEERS if n in names]
    headers = ["scenario", "conns", "bar on", "req/s spread across servers", "CPU ÷ floor"]
    for peer in peers:
        headers += [f"req/s vs {peer}", f"CPU vs {peer}", f"p99 vs {peer}"]
    headers.append("bar")
    rows = []
    for case in cases:
        cells = cells_by_case[case]
        spread = rps_spread(cells)
        row = [case.scenario.label, str(case.connections), bar_on(case, cells),
               "n/a" if spread is None else f"{spread * 100:.0f}%",
               report.ratio(ratio(cells, FLOOR, "cpu_us_per_request"))]
        for peer in peers:
            row += [report.ratio(ratio(cells, peer, attribute)) for attribute in ("rps", "cpu_us_per_request", "p99_us")]
        rows.append(row + [verdict(case, cells)])
    return report.table(headers, rows)


BAR_LEGEND = f"""Bars (DESIGN §6, issue 13), mempool's median ÷ the other server's:
- client-bound (req/s of all servers within {CLIENT_BOUND_SPREAD * 100:.0f} % of the fastest, more than one
  connection): req/s measures wrk, so the bar is CPU µs/request ≤ nginx and ≤ h2o, p99 ≤ nginx;
- otherwise: req/s ≥ nginx (≥ h2o on static files), p99 ≤ nginx (and h2o on static files); at one
  connection req/s is 1 / latency (issue 13 §4);
- GET /hello on keep-alive connections: CPU µs/request ≤ {HELLO_FLOOR_BAR}× the floor's;
- GET /hello, {PIPELINE_DEPTH} pipelined: CPU µs/request ≤ {PIPELINED_FLOOR_BAR}× the floor's, p99 ≤ nginx,
  req/s ≥ {PIPELINED_NGINX_RPS_BAR:g}× nginx.
"""


def one_connection_table(case: Case, cells: dict[str, Cell], names: list[str]) -> str:
    """Every round of a one-connection case: it is latency-bound and its rounds vary (issue 13 §4)."""
    measured = [n for n in names if cells[n].ok]
    pair = REFERENCE in measured and "nginx" in measured
    headers = ["round"] + [f"{n} {what}" for n in measured for what in ("req/s", "p50 µs")] + \
        (["mempool ÷ nginx req/s"] if pair else [])
    rounds = min((len(cells[n].rounds) for n in measured), default=0)
    rows = []
    for i in range(rounds):
        row = [str(i + 1)]
        for n in measured:
            row += [report.fixed(cells[n].rounds[i].rps, 0), report.fixed(cells[n].rounds[i].p50_us, 0)]
        if pair:
            row.append(report.ratio(cells[REFERENCE].rounds[i].rps / cells["nginx"].rounds[i].rps))
        rows.append(row)
    for label, pick in (("min", min), ("median", statistics.median), ("max", max)):
        row = [label]
        for n in measured:
            row += [report.fixed(pick(r.rps for r in cells[n].rounds), 0),
                    report.fixed(pick(r.p50_us for r in cells[n].rounds), 0)]
        if pair:
            row.append(report.ratio(pick(a.rps / b.rps for a, b in zip(cells[REFERENCE].rounds, cells["nginx"].rounds))))
        rows.append(row)
    return report.table(headers, rows)


def one_connection_section(cases, cells_by_case, names) -> str:
    parts = []
    for case in cases:
        if case.connections == 1 and case.scenario == HELLO:
            parts.append(f"\n### {case.label}: every round (servers interleaved, so one round's figures sit "
                         f"side by side in time)\n\n" + one_connection_table(case, cells_by_case[case], names) + "\n")
    return "".join(parts)


def portable_section(cases, cells_by_case, names) -> str:
    """What the portable readiness wait costs: the two builds side by side."""
    if REFERENCE not in names or PORTABLE not in names:
        return ""
    rows = []
    for case in cases:
        a, b = cells_by_case[case][REFERENCE], cells_by_case[case][PORTABLE]
        cpu_a, cpu_b = a.median("cpu_us_per_request"), b.median("cpu_us_per_request")
        both = a.ok and b.ok and cpu_a and cpu_b
        rows.append([case.scenario.label, str(case.connections), report.fixed(cpu_a, 2), report.fixed(cpu_b, 2),
                     f"{cpu_b - cpu_a:+.2f}" if both else "n/a", report.ratio(cpu_b / cpu_a if both else None),
                     report.fixed(a.median("p99_us"), 0), report.fixed(b.median("p99_us"), 0),
                     report.ratio(ratio(cells_by_case[case], REFERENCE, "rps", mine=PORTABLE))])
    return ("\n### What the portable wait costs (mempool-portable: -DMEMPOOL_PORTABLE_WAIT=ON)\n\n"
            + report.table(["scenario", "conns", "mempool CPU µs/req", "portable CPU µs/req", "Δ µs/req",
                            "portable ÷ mempool CPU", "mempool p99 µs", "portable p99 µs",
                            "portable ÷ mempool req/s"], rows) + "\n")


def to_json(ctx: Context, args, cases, cells_by_case, running) -> dict:
    out_cases = []
    for case in cases:
        cells = cells_by_case[case]
        out_cases.append({
            "scenario": case.scenario.name, "label": case.scenario.label, "connections": case.connections,
            "servers": {name: {"status": c.status, "rps": c.median("rps"), "p50_us": c.median("p50_us"),
                               "p99_us": c.median("p99_us"), "cpu_us_per_request": c.median("cpu_us_per_request"),
                               "cpu_vs_floor": ratio(cells, FLOOR, "cpu_us_per_request", mine=name),
                               "rss_kib": c.rss_kib, "rounds": [vars(r) for r in c.rounds]}
                        for name, c in cells.items()},
            "ratios": {peer: {"rps": ratio(cells, peer, "rps"), "p99": ratio(cells, peer, "p99_us"),
                              "cpu": ratio(cells, peer, "cpu_us_per_request")}
                       for peer in cells if peer != REFERENCE},
            "rps_spread_across_servers": rps_spread(cells), "client_bound": client_bound(case, cells),
            "bar_on": bar_on(case, cells),
            "checks": [{"what": c.what, "value": c.value, "limit": c.limit, "ok": c.ok} for c in checks(case, cells)],
            "bar": verdict(case, cells)})
    return {"mode": "throughput", "rounds": args.rounds, "seconds_per_round": args.duration,
            "servers": {s.name: {"notes": s.notes} for s in running}, "versions": servers.versions(ctx),
            "cases": out_cases}


def chart(ctx: Context, cases, cells_by_case, names) -> None:
    labels = [c.label for c in cases]
    for attribute, png, title, axis in (
            ("rps", "throughput.png", "requests/s (median of rounds; server on CPU 0, wrk on CPU 1)", "requests/s"),
            ("cpu_us_per_request", "cpu.png", "server CPU µs per request (median of rounds; lower is better)",
             "CPU µs / request")):
        series = {name: [cells_by_case[c][name].median(attribute) if cells_by_case[c][name].ok else None
                         for c in cases] for name in names}
        report.bar_chart(ctx.run_dir / png, title, axis, labels, series)


# --- the mode ---------------------------------------------------------------------------------

def run(ctx: Context, args) -> int:
    cases = plan(args.connections)
    running = [servers.start(ctx, name) for name in args.servers]
    smoke = {s.name: servers.smoke_check(s, list(SCENARIOS)) for s in running}
    runs = len(cases) * len(running) * (args.rounds * args.duration + WARMUP_SECONDS)
    print(f"throughput: {len(cases)} cases x {len(running)} servers x {args.rounds} rounds of {args.duration} s "
          f"(about {runs // 60} min {runs % 60} s); results in {ctx.run_dir}", file=sys.stderr, flush=True)
    started = time.monotonic()
    cells_by_case = {case: run_case(ctx, case, running, smoke, args) for case in cases}
    names = [s.name for s in running]
    report.emit(ctx.run_dir, f"\n## Throughput ({args.rounds} rounds of {args.duration} s, "
                             f"{time.monotonic() - started:.0f} s in all)\n\n"
                + results_table(cases, cells_by_case, names) + "\n\n### mempool ÷ peer, and the bar (req/s: higher "
                + "is better; CPU and p99: lower is better)\n\n" + bar_table(cases, cells_by_case, names) + "\n\n"
                + BAR_LEGEND + one_connection_section(cases, cells_by_case, names)
                + portable_section(cases, cells_by_case, names) + "\nNotes: "
                + servers.notes_text(running) + "\n")
    report.write_json(ctx.run_dir / "results.json", to_json(ctx, args, cases, cells_by_case, running))
    chart(ctx, cases, cells_by_case, names)
    failed = any(c.status.startswith("FAIL") for cells in cells_by_case.values() for c in cells.values())
    return 1 if failed else 0
