"""Cluster mode: config/deploy/haproxy.cfg, verbatim, in front of two mempool-server instances
under wrk load, while the instances are stopped and started under it (issue 12 §5).

Three wrk runs of --cluster-seconds / 3 each, GET /hello through HAProxy at 64 connections:

  baseline  nothing happens: the latency and req/s to compare the others with.
  graceful  a quarter in, app1 gets SIGTERM (it closes its listener, finishes what is in flight,
            exits); half-way it starts again on the same port and HAProxy's health check brings it
            back. The bar: 0 failed requests.
  kill      a quarter in, app2 gets SIGKILL; half-way it starts again. The bar: no more failed
            requests than app2 had in flight when it died (at most the sessions HAProxy had open
            to it just before).

Beside wrk, tools/steady_client sends 100 requests a second through HAProxy, open loop, and
reports each request's latency as measured (wrk's p99 is corrected for coordinated omission).

Requests served per instance come from each instance's GET /stats (read just before it is killed,
and at the end) and its final log line after a graceful stop ("stopped: N requests"); beside them,
HAProxy's own count per server, its retries and redispatches ("show stat" on its stats socket).
Instance counts include HAProxy's health checks (one GET /hello every 2 s or faster) and the
runner's /stats requests, a few dozen in all.
"""
from __future__ import annotations

import csv
import http.client
import os
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from . import attack, report, servers, wrk
from .context import Context
from .procs import free_port, wait_for_port
from .scenarios import HELLO

CONNECTIONS = 64
CLIENT_RATE = 100             # the fixed-rate client beside wrk, whose latency is per request
UP_TIMEOUT_SECONDS = 20
HAPROXY_STATES_UP = ("UP",)
INSTANCES = ("app1", "app2")
COUNTERS = ("eresp", "econ", "wretr", "wredis", "hrsp_2xx", "hrsp_5xx")  # of HAProxy's show stat, per phase


@dataclass
class Life:
    """One process of an instance, from its start to its end."""
    requests: int | None = None        # what it served
    how: str = ""                      # where that figure comes from
    ended: str = "running at the end"


@dataclass
class Instance:
    name: str
    port: int
    admin_port: int                        # its admin listener: HAProxy's health check
    server: servers.Server | None = None
    lives: list[Life] = field(default_factory=list)


@dataclass
class Phase:
    name: str
    signal_name: str                       # "" for the baseline: no event
    victim: str
    wrk: wrk.WrkResult | None = None
    client: dict = field(default_factory=dict)  # steady_client's STEADY_JSON
    error: str = ""
    sessions_at_signal: int | None = None  # HAProxy's open sessions to the victim just before
    victim_stats: dict[str, int] = field(default_factory=dict)  # HAProxy's counters for it, over the run
    events: list[tuple[float, str]] = field(default_factory=list)

    @property
    def in_flight_bound(self) -> int | None:
        """At most this many requests were in flight on the victim when it got the signal: the
        sessions HAProxy had open to it, read just before."""
        return self.sessions_at_signal


# --- HAProxy --------------------------------------------------------------------------------

class HAProxy:
    def __init__(self, ctx: Context, instances: list[Instance]) -> None:
        self.ctx = ctx
        self.port = free_port()
        self.stats_port = free_port()
        self.socket_path = ctx.run_dir / "haproxy.sock"
        self.config = ctx.repo / "config" / "deploy" / "haproxy.cfg"
        self.env = {**os.environ,
                    "MEMPOOL_FRONTEND": f"127.0.0.1:{self.port}", "HAPROXY_STATS": f"127.0.0.1:{self.stats_port}",
                    "HAPROXY_SOCKET": str(self.socket_path), "HAPROXY_NO_CHROOT": "1",  # any user may run it
                    "HAPROXY_LOG": "stderr", "HAPROXY_LOG_LEVEL": "notice",
                    "HAPROXY_MAXCONN": str(max(1000, (ctx.nofile - 100) // 2))}  # two descriptors each
        for instance in instances:
            self.env[f"MEMPOOL_{instance.name.upper()}"] = f"127.0.0.1:{instance.port}"
            self.env[f"MEMPOOL_{instance.name.upper()}_ADMIN_PORT"] = str(instance.admin_port)
        self.proc = None

    def check(self) -> str | None:
        """haproxy -c on the deploy config with this run's values; None when it is valid."""
        code, out, err = self.ctx.processes.run(["haproxy", "-c", "-f", str(self.config)], cpu=None, timeout=30,
                                                env=self.env)
        return None if code == 0 else (out + err).strip()

    def start(self) -> None:
        self.proc = self.ctx.processes.start(["haproxy", "-db", "-f", str(self.config)], cpu=None,
                                             log=self.ctx.logs / "haproxy.log", env=self.env)
        if not wait_for_port(self.port, self.proc):
            raise servers.ServerError(f"haproxy did not start; see {self.ctx.logs / 'haproxy.log'}")

    def stats(self) -> dict[str, dict[str, str]]:
        """`show stat` of the mempool backend: server name -> field -> value."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.socket_path))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        lines = data.decode(errors="replace").lstrip("# ").splitlines()
        return {row["svname"]: row for row in csv.DictReader(lines) if row.get("pxname") == "mempool"}

    def wait_up(self, name: str) -> bool:
        deadline = time.monotonic() + UP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.stats().get(name, {}).get("status", "") in HAPROXY_STATES_UP:
                return True
            time.sleep(0.2)
        return False


# --- instances ------------------------------------------------------------------------------

def start_instance(ctx: Context, instance: Instance) -> None:
    instance.server = servers.start(ctx, "mempool", port=instance.port, admin_port=instance.admin_port,
                                    label=f"mempool-{instance.name}-{len(instance.lives) + 1}", log_level="info")
    instance.lives.append(Life())


def stats_requests(instance: Instance) -> int | None:
    try:
        stats = servers.fetch_stats(instance.server)
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return servers.sum_over_reactors(stats, "server", "requests")


STOPPED_LINE = re.compile(r"stopped: (\d+) requests on (\d+) connections")


def stop_instance(ctx: Context, instance: Instance, sig: int) -> None:
    """SIGTERM: waits for the graceful exit and reads its final count from its log. SIGKILL: the
    count comes from /stats just before."""
    life = instance.lives[-1]
    before = stats_requests(instance)
    ctx.processes.stop(instance.server.proc, sig)
    code = instance.server.proc.returncode
    life.ended = f"{signal.Signals(sig).name}, exit {code}"
    found = STOPPED_LINE.findall(instance.server.log.read_text(errors="replace")) if sig == signal.SIGTERM else []
    if found:
        life.requests, life.how = int(found[-1][0]), "its final log line"
    else:
        life.requests, life.how = before, "/stats just before the signal"


# --- the phases -----------------------------------------------------------------------------

def counters(haproxy: HAProxy, name: str) -> dict[str, int]:
    row = haproxy.stats().get(name, {})
    return {k: int(row.get(k) or 0) for k in COUNTERS}


def run_phase(ctx: Context, haproxy: HAProxy, instances: dict[str, Instance], phase: Phase, seconds: int) -> None:
    """One wrk run; a quarter in the victim gets the signal, half-way it starts again."""
    front = servers.Server("haproxy", haproxy.port, haproxy.proc, ctx.logs / "haproxy.log")
    outcome: dict = {}

    def load() -> None:
        try:
            outcome["result"] = wrk.run(ctx, front, HELLO, connections=CONNECTIONS, seconds=seconds,
                                        label=f"cluster {phase.name}")
        except wrk.WrkError as e:
            outcome["error"] = str(e)

    def measure() -> None:
        argv = [str(ctx.tool("steady_client")), "--port", str(haproxy.port), "--path", HELLO.path,
                "--rate", str(CLIENT_RATE), "--seconds", str(seconds), "--timeout-ms", "10000",
                "--csv", str(ctx.run_dir / f"cluster-{phase.name}-client.csv")]
        try:
            outcome["client"] = attack.run_client(ctx, argv, f"cluster {phase.name}")
        except RuntimeError as e:
            outcome["error"] = str(e)

    started = time.monotonic()
    victim = instances[phase.victim]
    before = counters(haproxy, victim.name)
    threads = [threading.Thread(target=load), threading.Thread(target=measure)]
    for thread in threads:
        thread.start()

    def event(text: str) -> None:
        phase.events.append((time.monotonic() - started, text))
        print(f"  {phase.name} +{time.monotonic() - started:4.1f} s: {text}", file=sys.stderr, flush=True)

    up = True
    if phase.signal_name:
        time.sleep(seconds / 4)
        phase.sessions_at_signal = int(haproxy.stats().get(victim.name, {}).get("scur") or 0)
        event(f"{phase.signal_name} to {victim.name} (HAProxy has {phase.sessions_at_signal} sessions open to it)")
        stop_instance(ctx, victim, signal.Signals[phase.signal_name])
        event(f"{victim.name} is gone ({victim.lives[-1].ended}); HAProxy says "
              f"{haproxy.stats().get(victim.name, {}).get('status', '?')}")
        time.sleep(max(0.0, started + seconds / 2 - time.monotonic()))
        start_instance(ctx, victim)
        event(f"{victim.name} started again on port {victim.port}")
        up = haproxy.wait_up(victim.name)
        event(f"HAProxy says {victim.name} is {'UP' if up else 'still not UP'}")
    for thread in threads:
        thread.join()
    after = counters(haproxy, victim.name)
    phase.victim_stats = {k: after[k] - before[k] for k in COUNTERS}
    phase.wrk, phase.client, phase.error = outcome.get("result"), outcome.get("client", {}), outcome.get("error", "")
    if not up:
        phase.error = phase.error or f"HAProxy did not bring {victim.name} back within {UP_TIMEOUT_SECONDS} s"


def failed(phase: Phase) -> int | None:
    """Failed requests of both clients."""
    if phase.wrk is None or not phase.client:
        return None
    return phase.wrk.error_count + phase.client["failed"]


def phase_bar(phase: Phase) -> str:
    n = failed(phase)
    if n is None or phase.error:
        return f"missed ({phase.error or 'no figures'})"
    if phase.signal_name != "SIGKILL":
        return "met" if n == 0 else "missed"
    bound = phase.in_flight_bound or 0
    return "met" if n <= bound else f"missed (more than the {bound} in flight)"


# --- reporting --------------------------------------------------------------------------------

def phase_table(phases: list[Phase]) -> str:
    rows = []
    for p in phases:
        w, v, c = p.wrk, p.victim_stats, p.client
        lat = c.get("latency_ms", {})
        rows.append([p.name, f"{p.signal_name} to {p.victim}" if p.signal_name else "none",
                     report.count(w.requests) if w else "n/a", report.fixed(w.rps, 0) if w else "n/a",
                     (f"{w.error_count:,}" + (f" ({w.error_text()})" if w.error_count else "")) if w else "n/a",
                     report.fixed(w.latency_us["p99"] / 1000, 1) if w else "n/a",
                     report.count(c["due"]) if c else "n/a", attack.failures_text(c),
                     report.fixed(lat.get("p50"), 1), report.fixed(lat.get("p99"), 1), report.fixed(lat.get("max"), 1),
                     "—" if not p.signal_name else str(p.sessions_at_signal),
                     *(str(v.get(k, "?")) for k in ("wredis", "wretr", "econ", "eresp")), phase_bar(p)])
    return report.table(["run", "event", "wrk requests", "wrk req/s", "wrk failed", "wrk p99 ms (corrected)",
                         "client requests", "client failed", "client p50 ms", "client p99 ms", "client max ms",
                         "sessions open to it at the signal", "redispatched away from it", "retried on it",
                         "refused connects", "answers lost", "bar"], rows)


def instance_table(instances: list[Instance], haproxy_stats: dict[str, dict[str, str]]) -> str:
    rows = []
    for instance in instances:
        total = sum(l.requests or 0 for l in instance.lives)
        lives = "; ".join(f"{report.count(l.requests) if l.requests is not None else '?'} ({l.how}; {l.ended})"
                          for l in instance.lives)
        h = haproxy_stats.get(instance.name, {})
        rows.append([instance.name, report.count(total), lives, h.get("hrsp_2xx", "?"), h.get("wretr", "?"),
                     h.get("wredis", "?"), h.get("econ", "?"), h.get("eresp", "?"), h.get("status", "?")])
    return report.table(["instance", "requests served", "per process (source; how it ended)", "HAProxy 2xx",
                         "HAProxy retries", "HAProxy redispatches", "HAProxy conn errors", "HAProxy resp errors",
                         "HAProxy status at the end"], rows)


def timeline(phases: list[Phase]) -> str:
    return "\n".join(f"- {p.name} +{t:.1f} s: {text}" for p in phases for t, text in p.events)


EXPLANATION = f"""
Load: wrk, {CONNECTIONS} connections through HAProxy; its p99 is corrected for coordinated omission
(wrk adds, for every slow answer, the samples an open-loop client would have seen behind it).
Beside it a fixed-rate client (tools/steady_client, {CLIENT_RATE} req/s, half on new connections,
open loop): its latency is per request, as measured. Per run, the victim's columns are HAProxy's
counters for that instance over the run (show stat): requests redispatched away from it to the
other instance (wredis), retries on it (wretr), refused connections (econ: its closed port) and
answers lost (eresp: sent, no answer). Bars (issue 12 §5): baseline and graceful stop: 0 failed
(wrk and the client together); SIGKILL: failed ≤ the requests in flight on the killed instance
(at most the sessions HAProxy had open to it just before).
"""


def run(ctx: Context, args) -> int:
    seconds = max(8, args.cluster_seconds // 3)
    instances = {name: Instance(name, free_port(), free_port()) for name in INSTANCES}
    haproxy = HAProxy(ctx, list(instances.values()))
    problem = haproxy.check()
    if problem:
        report.emit(ctx.run_dir, f"cluster: haproxy -c rejects config/deploy/haproxy.cfg:\n{problem}")
        return 1
    for instance in instances.values():
        start_instance(ctx, instance)
    haproxy.start()
    if not all(haproxy.wait_up(name) for name in instances):
        report.emit(ctx.run_dir, f"cluster: HAProxy did not see both instances UP; see {ctx.logs}")
        return 1
    print(f"cluster: HAProxy on 127.0.0.1:{haproxy.port} (status page 127.0.0.1:{haproxy.stats_port}) in front of "
          f"{', '.join(f'{i.name} :{i.port}' for i in instances.values())}; three wrk runs of {seconds} s",
          file=sys.stderr, flush=True)
    phases = [Phase("baseline", "", "app1"), Phase("graceful", "SIGTERM", "app1"), Phase("kill", "SIGKILL", "app2")]
    for phase in phases:
        run_phase(ctx, haproxy, instances, phase, seconds)
    for instance in instances.values():
        instance.lives[-1].requests, instance.lives[-1].how = stats_requests(instance), "/stats at the end"
    final = haproxy.stats()
    served = sum(l.requests or 0 for i in instances.values() for l in i.lives)
    answered = sum(p.wrk.requests for p in phases if p.wrk) + sum(p.client.get("answered", 0) for p in phases)
    report.emit(ctx.run_dir, f"\n## Cluster: HAProxy (config/deploy/haproxy.cfg) in front of two mempool-server "
                             f"instances, GET /hello at {CONNECTIONS} connections\n\n" + phase_table(phases)
                + "\n\n" + instance_table(list(instances.values()), final)
                + f"\n\nwrk and the client got {answered:,} answers; the instances served {served:,} requests (the difference: "
                  f"HAProxy's health checks and the runner's /stats requests, and for a killed process what it "
                  f"served between its last /stats and the kill).\n\nTimeline:\n{timeline(phases)}\n\n"
                + EXPLANATION)
    report.write_json(ctx.run_dir / "results.json", {
        "mode": "cluster", "seconds_per_run": seconds, "connections": CONNECTIONS,
        "phases": [{"name": p.name, "signal": p.signal_name, "victim": p.victim, "error": p.error,
                    "requests": p.wrk.requests if p.wrk else None, "failed": failed(p), "client": p.client,
                    "errors": p.wrk.errors if p.wrk else None, "sessions_at_signal": p.sessions_at_signal,
                    "victim_haproxy_counters": p.victim_stats,
                    "latency_us": p.wrk.latency_us if p.wrk else None, "bar": phase_bar(p),
                    "events": p.events} for p in phases],
        "instances": {i.name: [vars(l) for l in i.lives] for i in instances.values()},
        "haproxy_stats": final})
    return 0 if all(phase_bar(p) == "met" for p in phases) else 1
