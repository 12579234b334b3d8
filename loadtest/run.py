#!/usr/bin/env python3
"""loadtest/run.py MODE [options]: the load tests (loadtest/run.sh builds first, then runs this).

Modes:
  throughput  (default) req/s, p50/p99, CPU/request and RSS of mempool, nginx, h2o and the floor
              per scenario; /hello also 16-deep pipelined and at one connection, round by round
  allocs      heap allocations per request of each server, through the LD_PRELOAD counter
  idle        user-space memory per idle keep-alive connection (10 000 connections)
  soak        1 M requests and 100 k connections against mempool: RSS growth, outstanding pools
  check       the instruments against known answers (the counter, fixed_cost_server, floor_server,
              steady_client)
  attack      slow clients: slowhttptest (-H, -B, -X) against each server while a normal client at a
              fixed rate records failures and latency
  cluster     config/deploy/haproxy.cfg in front of two mempool-server instances under wrk; one is
              stopped (SIGTERM), another killed (SIGKILL), both restarted: failures, requests per instance
  handler     an allocation-heavy handler (parse, transform, render a 2-8 KiB JSON-like body) on a
              request pool and on the heap (glibc, jemalloc, mimalloc): CPU/request, heap
              allocations/request, RSS after a long run (issue 13 §5; mempool-bench, no HTTP)
  workers     mempool with 2 worker processes beside 2 reactor threads: req/s, CPU/request (master and
              workers summed), heap allocations/request in the workers (issue 14)

Results go to results/<timestamp>-<mode>/ (summary.md, results.json, PNG charts, logs, configs).
Exit code: 0; 1 when a scenario failed (wrk errors, wrong answers), a check failed, or a soak,
an attack on mempool or a cluster run missed its bar; 2 for a bad command line or a server that
would not start.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runner import allocs, attack, check, cluster, handler, idle, servers, soak, throughput, workers, wrk  # noqa: E402
from runner.context import Context, make_run_dir  # noqa: E402
from runner.procs import Processes, install_cleanup, raise_nofile_limit  # noqa: E402

MODES = {"throughput": throughput.run, "allocs": allocs.run, "idle": idle.run, "soak": soak.run,
         "check": check.run, "attack": attack.run, "cluster": cluster.run, "handler": handler.run, "workers": workers.run}


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


DEFAULT_SERVERS = {"throughput": ["mempool", "nginx", "h2o", "floor"], "allocs": ["mempool", "nginx", "h2o"],
                   "idle": ["mempool", "nginx", "h2o"], "soak": ["mempool"], "check": [],
                   "attack": ["mempool", "nginx"], "cluster": ["mempool"], "handler": [], "workers": []}


def server_list(text: str) -> list[str]:
    names = [x for x in text.split(",") if x]
    unknown = [n for n in names if n not in servers.NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"servers are {', '.join(servers.NAMES)}; got {text!r}")
    return names


def parse(argv: list[str]) -> argparse.Namespace:
    repo = Path(__file__).resolve().parent.parent
    p = argparse.ArgumentParser(prog="loadtest/run.sh", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("mode", nargs="?", default="throughput", choices=MODES)
    p.add_argument("--servers", type=server_list, default=None,
                   help=f"comma-separated, from {','.join(servers.NAMES)} (default: "
                        + "; ".join(f"{m} {','.join(n) or '-'}" for m, n in DEFAULT_SERVERS.items()) + ")")
    p.add_argument("--results", type=Path, default=repo / "results", help="folder of result folders")
    p.add_argument("--build", type=Path, default=repo / "build" / "release", help="the Release build")
    p.add_argument("--portable-build", type=Path, default=repo / "build" / "release-portable",
                   help="the build of the mempool-portable server (run.sh configures it with "
                        "-DMEMPOOL_PORTABLE_WAIT=ON when --servers names mempool-portable)")
    t = p.add_argument_group("throughput")
    t.add_argument("--rounds", type=int, default=3, help="timed rounds per server and case (default 3; the bar: 5)")
    t.add_argument("--duration", type=int, default=5, help="seconds per round (default 5)")
    t.add_argument("--connections", type=int_list, default=None,
                   help="run every scenario at these connection counts, e.g. 1,64,256 "
                        "(default: all four at 64, /hello also at 1 and 256)")
    a = p.add_argument_group("allocs")
    a.add_argument("--allocs-seconds", type=int, default=5, help="length of the counted steady run (default 5)")
    a.add_argument("--allocs-connections", type=int, default=16, help="keep-alive connections (default 16)")
    a.add_argument("--trace", type=int, default=0, metavar="N",
                   help="backtraces of N allocations in each counted window, per server")
    i = p.add_argument_group("idle")
    i.add_argument("--idle-connections", type=int, default=10000, help="idle connections to hold (default 10000)")
    s = p.add_argument_group("soak")
    s.add_argument("--soak-requests", type=int, default=1_000_000, help="requests to send (default 1000000)")
    s.add_argument("--soak-connections", type=int, default=100_000, help="connections to churn (default 100000)")
    s.add_argument("--soak-max-seconds", type=int, default=1200, help="stop after this long regardless (default 1200)")
    k = p.add_argument_group("attack")
    k.add_argument("--attack-connections", type=int, default=4000,
                   help="slowhttptest connections per attack (default 4000)")
    k.add_argument("--attack-ramp", type=int, default=1000,
                   help="slowhttptest connections opened per second (default 1000)")
    k.add_argument("--attack-seconds", type=int, default=30, help="length of each attack (default 30)")
    k.add_argument("--attack-client-rate", type=int, default=100,
                   help="the normal client's requests per second (default 100)")
    c = p.add_argument_group("cluster")
    c.add_argument("--cluster-seconds", type=int, default=45,
                   help="length of the three wrk runs together (default 45: a baseline, a graceful stop, a kill)")
    h = p.add_argument_group("handler")
    h.add_argument("--handler-seconds", type=int, default=10,
                   help="run time of each variant of the allocation-heavy handler (default 10)")
    args = p.parse_args(argv)
    if args.servers is None:
        args.servers = DEFAULT_SERVERS[args.mode]
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    processes = Processes()
    install_cleanup(processes)
    ctx = Context(repo=Path(__file__).resolve().parent.parent, build=args.build.resolve(),
                  run_dir=make_run_dir(args.results.resolve(), args.mode), processes=processes,
                  nofile=raise_nofile_limit(), portable_build=args.portable_build.resolve())
    servers.make_docroot(ctx.www)
    try:
        return MODES[args.mode](ctx, args)
    except servers.ServerError as e:
        print(f"loadtest: {e}", file=sys.stderr)
        return 2
    except wrk.WrkError as e:
        print(f"loadtest: FAIL: {e}", file=sys.stderr)
        return 1
    finally:
        processes.stop_all()
        print(f"loadtest: results in {ctx.run_dir}", file=sys.stderr)


if __name__ == "__main__":
    os.umask(0o022)  # the generated www and configs must be readable by nginx's and h2o's workers
    sys.exit(main(sys.argv[1:]))
