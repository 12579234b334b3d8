"""Idle mode: user-space memory per idle keep-alive connection (DESIGN §6).

Each server starts alone and fresh, gets a short warm-up, and its memory is read (the sum over
its processes of VmRSS, and of smaps_rollup's Anonymous and Private_Dirty). Then
tools/idle_connections opens N connections, sends one GET /hello on each, reads the response
and holds them all idle; the memory is read again, the tool closes everything, and it is read a
third time. Bytes per idle connection = (memory while idle - memory before) / N. Memory set up
at start for every possible connection (nginx's connection array) is in both readings, so it is
not in the figure; kernel socket buffers are not user-space memory and are not in it either.
Servers run under the alloc counter (it adds no memory per connection), which says how many heap
allocations, and how many bytes, the connections took between the first two readings.
"""
from __future__ import annotations

import select
import subprocess
import sys
import time
from dataclasses import dataclass

from . import allocs, report, servers, wrk
from .alloc_file import CounterFile, Counts
from .context import Context
from .procs import Memory, memory
from .scenarios import HELLO

SETTLE_SECONDS = 2.0          # between a change and a reading
READY_TIMEOUT_SECONDS = 180   # for N connections to be set up
SETUP_TIMEOUT_SECONDS = 150   # the tool's own limit, below the runner's
HOLD_SECONDS = 600            # the tool ends by itself after this, whatever happens to the runner
WARMUP_SECONDS = 1
WARMUP_CONNECTIONS = 16
DESIGN_ANCHORS = {"nginx": "≈ 520 B (+ ≈ 430 B preallocated per slot)", "h2o": "≈ 1 060 B", "mempool": "≤ nginx"}


@dataclass
class IdleResult:
    name: str
    connections: int
    status: str = "ok"
    before: Memory | None = None
    idle: Memory | None = None
    after: Memory | None = None
    setup_ms: float | None = None
    stats_after: dict | None = None   # mempool: /stats after the connections closed (where memory stays)
    heap: Counts | None = None        # the alloc counter from before the connections to while they are idle

    def heap_per_connection(self) -> tuple[float, float] | None:
        """(heap allocations, heap bytes asked for) per idle connection, from the alloc counter."""
        if self.heap is None:
            return None
        return self.heap.allocations / self.connections, self.heap.values["bytes"] / self.connections

    def per_connection(self, attribute: str) -> float | None:
        """Bytes per idle connection by one memory figure (vm_rss, anonymous, private_dirty)."""
        if self.before is None or self.idle is None:
            return None
        return (getattr(self.idle, attribute) - getattr(self.before, attribute)) * 1024 / self.connections


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().decode().strip() if ready else ""


def _start_tool(ctx: Context, server: servers.Server, connections: int) -> subprocess.Popen:
    argv = [str(ctx.tool("idle_connections")), "--port", str(server.port), "--connections", str(connections),
            "--path", HELLO.path, "--hold", str(HOLD_SECONDS), "--setup-timeout", str(SETUP_TIMEOUT_SECONDS)]
    return ctx.processes.start(argv, cpu=servers.CLIENT_CPU, log=ctx.logs / "idle_connections.log",
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def _finish_tool(ctx: Context, tool: subprocess.Popen) -> dict[str, int]:
    """Tells the tool to close everything; returns its closing counts."""
    try:
        tool.stdin.write(b"close\n")  # communicate() flushes and closes stdin
    except OSError:
        pass
    out = b""
    try:
        out, _ = tool.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        pass
    ctx.processes.stop(tool)
    counts = {}
    for line in out.decode(errors="replace").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            counts[key] = int(value)
    return counts


def measure(ctx: Context, server: servers.Server, connections: int, counter: CounterFile) -> IdleResult:
    """The three readings around N idle connections to an already running, warmed-up server
    that runs under the alloc counter."""
    result = IdleResult(server.name, connections)
    time.sleep(SETTLE_SECONDS)
    result.before = memory(server.pids())
    heap_before = counter.snapshot()
    tool = _start_tool(ctx, server, connections)
    line = _read_line(tool, READY_TIMEOUT_SECONDS)
    if not line.startswith("ready "):
        result.status = f"FAIL: idle_connections did not get {connections} connections ready ({line or 'no answer'}); " \
                        f"see {ctx.logs / 'idle_connections.log'}"
        _finish_tool(ctx, tool)
        return result
    result.setup_ms = float(line.split()[2])
    time.sleep(SETTLE_SECONDS)
    result.idle = memory(server.pids())
    result.heap = counter.snapshot().minus(heap_before)
    counts = _finish_tool(ctx, tool)
    if counts.get("closed_by_server", 0) or counts.get("errors", 0):
        result.status = f"FAIL: while idle, the server closed {counts.get('closed_by_server', 0)} connections"
    time.sleep(SETTLE_SECONDS)
    result.after = memory(server.pids())
    if server.name in servers.MEMPOOL_NAMES:
        result.stats_after = _retained(servers.fetch_stats(server))
    return result


def _retained(stats: dict) -> dict:
    """What mempool keeps once the idle connections are gone, summed over reactors."""
    figures = (("pool_manager", "idle"), ("pool_manager", "idle_bytes"), ("block_allocator", "in_use_bytes"),
               ("block_allocator", "free_bytes"), ("connection_slots", "peak"), ("handler_memory", "peak"))
    return {f"{group}.{name}": servers.sum_over_reactors(stats, group, name) for group, name in figures}


def measure_server(ctx: Context, name: str, connections: int) -> IdleResult:
    env, counter, _ = allocs.preload(ctx, name)
    server = servers.start(ctx, name, env=env)
    try:
        problem = servers.smoke_check(server, [HELLO]).get(HELLO.name)
        if problem:
            return IdleResult(name, connections, status=f"FAIL: smoke check: {problem}")
        wrk.run(ctx, server, HELLO, connections=WARMUP_CONNECTIONS, seconds=WARMUP_SECONDS, label="idle warm-up")
        result = measure(ctx, server, connections, counter)
        print(f"  {name:8} {report.fixed(result.per_connection('vm_rss'), 0)} B per idle connection (VmRSS)  "
              f"[{result.status}]", file=sys.stderr, flush=True)
        return result
    except wrk.WrkError as e:
        return IdleResult(name, connections, status=f"FAIL: warm-up: {e}")
    finally:
        servers.stop(ctx, server)


# --- reporting --------------------------------------------------------------------------------

def table(results: list[IdleResult]) -> str:
    rows = []
    for r in results:
        heap = r.heap_per_connection()
        rows.append([r.name, report.count(r.connections),
                     report.mib(r.before.vm_rss) if r.before else "n/a", report.mib(r.idle.vm_rss) if r.idle else "n/a",
                     report.fixed(r.per_connection("vm_rss"), 0), report.fixed(r.per_connection("anonymous"), 0),
                     report.fixed(r.per_connection("private_dirty"), 0),
                     report.mib(r.after.vm_rss) if r.after else "n/a",
                     report.fixed(heap[0], 2) if heap else "n/a", report.fixed(heap[1], 0) if heap else "n/a",
                     report.fixed(r.setup_ms, 0), r.status])
    return report.table(["server", "idle conns", "RSS before MiB", "RSS idle MiB", "B/conn VmRSS", "B/conn Anonymous",
                         "B/conn Private_Dirty", "RSS after close MiB", "mallocs/conn", "malloc B/conn", "set-up ms",
                         "status"], rows)


def to_json(results: list[IdleResult]) -> dict:
    def kib(m: Memory | None):
        return vars(m) if m else None
    return {"mode": "idle", "servers": {r.name: {
        "status": r.status, "connections": r.connections, "setup_ms": r.setup_ms,
        "memory_kib": {"before": kib(r.before), "idle": kib(r.idle), "after_close": kib(r.after)},
        "bytes_per_connection": {a: r.per_connection(a) for a in ("vm_rss", "anonymous", "private_dirty")},
        "heap_while_idle": r.heap.values if r.heap else None, "mempool_stats_after_close": r.stats_after}
        for r in results}}


def run(ctx: Context, args) -> int:
    print(f"idle: {args.idle_connections} idle connections to each of {', '.join(args.servers)}",
          file=sys.stderr, flush=True)
    results = [measure_server(ctx, name, args.idle_connections) for name in args.servers]
    anchors = "; ".join(f"{r.name} {DESIGN_ANCHORS[r.name]}" for r in results if r.name in DESIGN_ANCHORS)
    retained = "".join("\nmempool after close (/stats): " + ", ".join(f"{k} {v:,}" for k, v in r.stats_after.items())
                       + "\n" for r in results if r.stats_after)
    report.emit(ctx.run_dir, f"\n## Memory per idle keep-alive connection\n\n{table(results)}\n\n"
                             f"DESIGN §6 anchors: {anchors}.\n{retained}")
    report.write_json(ctx.run_dir / "results.json", to_json(results))
    report.bar_chart(ctx.run_dir / "idle.png", f"user-space bytes per idle keep-alive connection "
                     f"({args.idle_connections} connections)", "bytes / connection", [r.name for r in results],
                     {"VmRSS": [r.per_connection("vm_rss") for r in results],
                      "Anonymous": [r.per_connection("anonymous") for r in results]})
    return 1 if any(r.status.startswith("FAIL") for r in results) else 0
