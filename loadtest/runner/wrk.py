"""wrk, pinned to the client CPU, bounded in time, read through wrk/scenario.lua's JSON line."""
from __future__ import annotations

import json
from dataclasses import dataclass

from .context import Context
from .scenarios import Scenario
from .servers import CLIENT_CPU, Server

WRK_THREADS = 1           # one client core
WRK_TIMEOUT = "5s"        # a response slower than this counts as a timeout error
SLACK_SECONDS = 30        # past -d, how long wrk may take before it is killed
JSON_MARK = "LOADTEST_JSON "
ERROR_KINDS = ("connect", "read", "write", "status", "timeout")


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    errors: dict[str, int]           # connect, read, write, timeout; status = non-2xx/3xx answers
    latency_us: dict[str, float]     # min, mean, max, stdev, p50, p90, p99, p999

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def error_text(self) -> str:
        return ", ".join(f"{kind} {n}" for kind, n in self.errors.items() if n)


class WrkError(RuntimeError):
    pass


def command(ctx: Context, server: Server, scenario: Scenario, connections: int, seconds: int) -> list[str]:
    argv = ["wrk", f"-t{min(WRK_THREADS, connections)}", f"-c{connections}", f"-d{seconds}s",
            f"--timeout={WRK_TIMEOUT}", "--latency", "-s", str(ctx.wrk_script)]
    if scenario.close:
        argv += ["-H", "Connection: close"]
    argv.append(server.url(scenario.path))
    extra = scenario.wrk_args()
    return argv + (["--", *extra] if extra else [])


def run(ctx: Context, server: Server, scenario: Scenario, *, connections: int, seconds: int,
        label: str = "") -> WrkResult:
    """One wrk run against server. Its whole output is appended to logs/wrk.log."""
    argv = command(ctx, server, scenario, connections, seconds)
    code, out, err = ctx.processes.run(argv, cpu=CLIENT_CPU, timeout=seconds + SLACK_SECONDS)
    with open(ctx.logs / "wrk.log", "a") as log:
        log.write(f"### {server.name} {label} $ {' '.join(argv)}\n{out}{err}\n")
    line = next((l for l in out.splitlines() if l.startswith(JSON_MARK)), None)
    if code != 0 or line is None:
        raise WrkError(f"wrk against {server.name} {scenario.path} failed (exit {code}): {err.strip() or out[-500:]}")
    data = json.loads(line[len(JSON_MARK):])
    return WrkResult(requests=data["requests"], duration_s=data["duration_us"] / 1e6,
                     errors={k: data["errors"][k] for k in ERROR_KINDS}, latency_us=data["latency_us"])
