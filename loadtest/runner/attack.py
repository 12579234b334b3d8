"""Attack mode: slow clients (DESIGN §6, issue 10 §6). Does a normal user still get answers while
thousands of connections dribble?

For each attack (none as the baseline, then Debian's slowhttptest in its three modes) and each
server, one at a time and freshly started: slowhttptest opens --attack-connections connections at
--attack-ramp per second and holds them its way, while tools/steady_client sends GET /hello at a
fixed --attack-client-rate (half on kept-alive connections, half on new ones) for
--attack-seconds, open loop. Both run pinned to the client CPU; the attacker burns about half of
it, so a saturating client's req/s would measure the attacker, not the server: the figures are
the normal client's failures and latency at a fixed rate. The bar: 0 failed normal requests and
p99 < 100 ms during every attack.

  slow headers (-H)  a GET /hello head that never ends: a header line every 10 s (slowloris)
  slow body (-B)     a POST /echo announcing 8192 bytes, sent a few bytes every 10 s (R-U-Dead-Yet)
  slow read (-X)     GET /64k.bin three times per connection, read 32 bytes every 5 s through a
                     512-1024 byte receive window

slowhttptest opens each connection once and does not replace the ones the server closes, so the
table shows both the most it held at once and its mean over the run: a server whose timeouts
shed the attacker shows a falling count.
"""
from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import report, servers
from .context import Context
from .procs import cpu_seconds
from .scenarios import HELLO

P99_BAR_MS = 100.0
SLACK_SECONDS = 30            # past the run, how long the client may take before it is killed
CLIENT_TIMEOUT_MS = 10000     # a normal request without its whole answer after this has failed
ATTACK_FOLLOW_UP_SECONDS = 10


@dataclass(frozen=True)
class Attack:
    name: str
    label: str
    flags: tuple[str, ...]    # slowhttptest's, beside the common ones; () for the baseline


ATTACKS = (
    Attack("none", "none (baseline)", ()),
    Attack("headers", "slow headers (-H)", ("-H", "-t", "GET", "-i", str(ATTACK_FOLLOW_UP_SECONDS), "-x", "24",
                                            "-u", "/hello")),
    Attack("body", "slow body (-B)", ("-B", "-t", "POST", "-i", str(ATTACK_FOLLOW_UP_SECONDS), "-s", "8192",
                                      "-x", "10", "-u", "/echo")),
    Attack("read", "slow read (-X)", ("-X", "-k", "3", "-w", "512", "-y", "1024", "-n", "5", "-z", "32",
                                      "-u", "/64k.bin")),
)


@dataclass
class Outcome:
    server: str
    attack: Attack
    status: str = "ok"
    client: dict = field(default_factory=dict)      # steady_client's STEADY_JSON
    connected_max: int | None = None                # slowhttptest's connections held, most at once
    connected_mean: float | None = None             # ... on average over the run
    connected_end: int | None = None                # ... at its end (0: the server closed them all)
    attacker_note: str = ""
    attacker_cpu: float | None = None               # share of one core
    server_cpu: float | None = None

    @property
    def failed(self) -> int | None:
        return self.client.get("failed")

    @property
    def p99_ms(self) -> float | None:
        return self.client.get("latency_ms", {}).get("p99")

    def bar(self) -> str:
        if not self.client:
            return f"missed ({self.status})"
        misses = (["failed"] if self.failed else []) + \
                 (["p99"] if self.p99_ms is None or self.p99_ms >= P99_BAR_MS or not self.client.get("answered")
                  else [])
        return "met" if not misses and self.status == "ok" else f"missed ({', '.join(misses) or self.status})"


# --- one run --------------------------------------------------------------------------------

def attacker_command(attack: Attack, server: servers.Server, args, prefix: Path) -> list[str]:
    flags = list(attack.flags)
    path = flags[flags.index("-u") + 1]
    flags[flags.index("-u") + 1] = server.url(path)
    return ["slowhttptest", *flags, "-c", str(args.attack_connections), "-r", str(args.attack_ramp),
            "-l", str(args.attack_seconds + SLACK_SECONDS), "-p", "3", "-g", "-o", str(prefix)]


def read_attacker_csv(path: Path, seconds: int, ended_itself: bool) -> tuple[int | None, float | None, int | None]:
    """From slowhttptest's per-second CSV: the most connections it held at once, the mean, and
    the last count, over the first `seconds`. When it ended by itself (the server had closed
    all its connections) the seconds after its last row count as 0."""
    try:
        with open(path, newline="") as f:
            held = {int(r["Seconds"]): int(r["Connected"]) for r in csv.DictReader(f) if int(r["Seconds"]) <= seconds}
    except (OSError, KeyError, ValueError):
        return None, None, None
    if not held:
        return None, None, None
    last = seconds if ended_itself else max(held)
    series = [held.get(t, 0) for t in range(min(held), last + 1)]
    return max(series), statistics.mean(series), series[-1]


def client_command(ctx: Context, server: servers.Server, args, csv_path: Path) -> list[str]:
    return [str(ctx.tool("steady_client")), "--port", str(server.port), "--path", HELLO.path,
            "--rate", str(args.attack_client_rate), "--seconds", str(args.attack_seconds),
            "--timeout-ms", str(CLIENT_TIMEOUT_MS), "--csv", str(csv_path)]


def run_client(ctx: Context, argv: list[str], label: str) -> dict:
    """Runs steady_client to its end; its STEADY_JSON line, parsed. RuntimeError if it fails."""
    try:
        code, out, err = ctx.processes.run(argv, cpu=servers.CLIENT_CPU,
                                           timeout=int(argv[argv.index("--seconds") + 1]) + SLACK_SECONDS)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"steady_client did not finish: {' '.join(argv)}") from None
    with open(ctx.logs / "steady_client.log", "a") as log:
        log.write(f"### {label} $ {' '.join(argv)}\n{out}{err}\n")
    line = next((l for l in out.splitlines() if l.startswith("STEADY_JSON ")), None)
    if code != 0 or line is None:
        raise RuntimeError(f"steady_client failed (exit {code}): {err.strip() or out[-300:]}")
    return json.loads(line[len("STEADY_JSON "):])


def one(ctx: Context, name: str, attack: Attack, args) -> Outcome:
    """A fresh server under one attack, with the normal client beside it."""
    outcome = Outcome(name, attack)
    label = f"{name}-{attack.name}"
    folder = ctx.run_dir / "attack"
    server = servers.start(ctx, name)
    try:
        problem = servers.smoke_check(server, [HELLO]).get(HELLO.name)
        if problem:
            outcome.status = f"FAIL: smoke check: {problem}"
            return outcome
        pids = server.pids()
        server_cpu_before, started = cpu_seconds(pids), time.monotonic()
        attacker = None
        if attack.flags:
            attacker = ctx.processes.start(attacker_command(attack, server, args, folder / f"{label}-slowhttptest"),
                                           cpu=servers.CLIENT_CPU, log=ctx.logs / f"slowhttptest-{label}.log")
        try:
            outcome.client = run_client(ctx, client_command(ctx, server, args, folder / f"{label}-client.csv"), label)
        except RuntimeError as e:
            outcome.status = f"FAIL: {e}"
        elapsed = time.monotonic() - started
        outcome.server_cpu = (cpu_seconds(pids) - server_cpu_before) / elapsed
        if attacker is not None:
            outcome.attacker_cpu = cpu_seconds([attacker.pid]) / elapsed
            attacker_log = ctx.logs / f"slowhttptest-{label}.log"
            if attacker.poll() is not None:  # before the end: it stops once it holds no connection
                if attacker.returncode == 0 and "No open connections left" in attacker_log.read_text(errors="replace"):
                    outcome.attacker_note = "the server closed every attacking connection before the end"
                else:
                    outcome.status = f"FAIL: slowhttptest ended early (exit {attacker.returncode}); see {attacker_log}"
            ctx.processes.stop(attacker)  # it writes its CSV every second, so SIGTERM loses nothing
            outcome.connected_max, outcome.connected_mean, outcome.connected_end = read_attacker_csv(
                folder / f"{label}-slowhttptest.csv", args.attack_seconds, ended_itself=bool(outcome.attacker_note))
        if server.proc.poll() is not None:
            outcome.status = f"FAIL: the server exited (code {server.proc.returncode}); see {server.log}"
    finally:
        servers.stop(ctx, server)
    print(f"  {name:8} {attack.label}: {outcome.client.get('answered', 0):,} of {outcome.client.get('due', 0):,} "
          f"answered, p99 {report.fixed(outcome.p99_ms, 1)} ms, attacker held {outcome.connected_max or 0:,}  "
          f"[{outcome.bar()}]", file=sys.stderr, flush=True)
    return outcome


# --- reporting --------------------------------------------------------------------------------

def failures_text(client: dict) -> str:
    if not client:
        return "n/a"
    kinds = ", ".join(f"{k} {n}" for k, n in client.get("failures", {}).items() if n)
    return f"{client['failed']:,}" + (f" ({kinds})" if kinds else "")


def percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.0f}%"


def table(outcomes: list[Outcome]) -> str:
    rows = []
    for o in outcomes:
        lat = o.client.get("latency_ms", {})
        rows.append([o.server, o.attack.label, report.count(o.client["due"]) if o.client else "n/a",
                     failures_text(o.client), report.count(o.client.get("retries", 0)) if o.client else "n/a",
                     report.fixed(lat.get("p50"), 1), report.fixed(lat.get("p99"), 1), report.fixed(lat.get("max"), 1),
                     "—" if not o.attack.flags else report.count(o.connected_max) if o.connected_max is not None
                     else "n/a",
                     "—" if not o.attack.flags else report.fixed(o.connected_mean, 0),
                     "—" if not o.attack.flags else report.fixed(o.connected_end, 0),
                     "—" if not o.attack.flags else percent(o.attacker_cpu), percent(o.server_cpu), o.bar()])
    return report.table(["server", "attack", "normal requests", "failed", "retried", "p50 ms", "p99 ms", "max ms",
                         "attacker conns (most)", "(mean)", "(at the end)", "attacker CPU", "server CPU", "bar"],
                        rows)


def to_json(outcomes: list[Outcome], args) -> dict:
    return {"mode": "attack", "connections": args.attack_connections, "ramp_per_second": args.attack_ramp,
            "seconds": args.attack_seconds, "client_rate": args.attack_client_rate, "p99_bar_ms": P99_BAR_MS,
            "runs": [{"server": o.server, "attack": o.attack.name, "slowhttptest_flags": list(o.attack.flags),
                      "status": o.status, "client": o.client, "attacker_connections_max": o.connected_max,
                      "attacker_connections_mean": o.connected_mean, "attacker_connections_end": o.connected_end,
                      "attacker_note": o.attacker_note, "attacker_cpu_share": o.attacker_cpu,
                      "server_cpu_share": o.server_cpu, "bar": o.bar()} for o in outcomes]}


def run(ctx: Context, args) -> int:
    (ctx.run_dir / "attack").mkdir(exist_ok=True)
    per_run = args.attack_seconds + 3
    total = len(ATTACKS) * len(args.servers) * per_run
    print(f"attack: {len(ATTACKS)} attacks x {len(args.servers)} servers x {args.attack_seconds} s "
          f"(about {total // 60} min {total % 60} s); {args.attack_connections:,} attacking connections, "
          f"normal client at {args.attack_client_rate} req/s", file=sys.stderr, flush=True)
    outcomes = [one(ctx, name, attack, args) for attack in ATTACKS for name in args.servers]
    report.emit(ctx.run_dir, f"\n## Slow clients ({args.attack_connections:,} slowhttptest connections opened at "
                             f"{args.attack_ramp}/s; a normal client at {args.attack_client_rate} req/s for "
                             f"{args.attack_seconds} s)\n\n" + table(outcomes) + f"""

Normal requests: GET /hello, alternately on a kept-alive connection and on a new one, open loop
(latency from each request's due time). Failed: connect errors, connections closed before the
whole answer, no answer within {CLIENT_TIMEOUT_MS / 1000:.0f} s, non-2xx. Retried: a request on a
reused connection that the server closed at that moment, sent once more (not a failure). Bar
(DESIGN §6): 0 failed and p99 < {P99_BAR_MS:.0f} ms during every attack. CPU: share of one core
over the run. Attacker connections: slowhttptest's own count, per second; it does not replace
the connections a server closes, so a server whose timeouts shed the attack ends near 0.
""" + "".join(f"\n{o.server}, {o.attack.label}: {o.attacker_note}." for o in outcomes if o.attacker_note) + "\n")
    report.write_json(ctx.run_dir / "results.json", to_json(outcomes, args))
    report.bar_chart(ctx.run_dir / "attack.png", f"normal client's p99 latency under slowhttptest "
                     f"({args.attack_connections} connections; bar: {P99_BAR_MS:.0f} ms)", "p99 ms",
                     [a.label for a in ATTACKS],
                     {name: [next(o.p99_ms for o in outcomes if o.server == name and o.attack == a) for a in ATTACKS]
                      for name in args.servers})
    # nginx is the reference: only mempool's misses, and runs that broke, fail the mode.
    failed = any(o.status != "ok" or (o.server in servers.MEMPOOL_NAMES and o.bar() != "met") for o in outcomes)
    return 1 if failed else 0
