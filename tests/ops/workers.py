#!/usr/bin/python3
"""Master/worker mode (issue 14) of the real mempool-server, each case a fresh server with
workers = 2, reactors = 1, under load from client threads:
  kill    a worker SIGKILLed under load is replaced within a second, logged with its cause; the
          server goes on answering, and only requests in flight on the killed worker's
          connections fail (at most one per client connection); /stats shows both workers and
          the restart. A replacement killed at once is restarted after a back-off.
  sums    /stats and /metrics add up across workers: the per-worker requests sum to the total, and
          to the number of requests sent.
  hup     SIGHUP under load starts a new generation with the new file and drains the old one, and
          loses no request: every request written on a fresh connection gets a full response; on
          a kept-alive connection the only failure allowed is a clean close before any byte of the
          response (the keep-alive race every HTTP client retries), which the client retries.
          A broken file is refused (FILE:LINE:COLUMN in the log) and the workers stay.
  signals SIGUSR1 is passed on to the workers; SIGTERM drains them (a request in progress holds
          its worker) and the master exits 0; a second SIGTERM closes every connection at once.
  orphans workers exit when their master is killed.
  startup the master raises the open-file limit and checks it per worker; an address already
          taken: exit 1 naming it.
Usage: workers.py --mempool BUILD/bin/mempool-server [CASE...]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import signal
import subprocess
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mempool_process import Mempool, wait_for  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

BASE = """listen = "127.0.0.1:{port}"
reactors = 1
workers = 2
log_level = "info"
error_log = "{dir}/server-error.log"
[admin]
listen = "127.0.0.1:{admin}"
[routes]
"/hello" = "hello"
"/echo" = "echo"
"""
CLIENTS = 4


def server_log(server: Mempool) -> str:
    path = server.workdir / "server-error.log"
    return (path.read_text(errors="replace") if path.exists() else "") + server.log_text()


def children(pid: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def stats(server: Mempool) -> dict:
    status, body = server.get("/stats", admin=True)
    assert status == 200, status
    return json.loads(body)


def workers_of(s: dict) -> dict[int, dict]:
    return {w["worker"]: w["worker_process"] for w in s.get("workers", [])}


class Load:
    """Client threads sending GET /hello: `kept` ones on a kept-alive connection (opened again
    after a clean close, and the request retried once on it), the others a fresh connection per
    request. Counts responses, retries and failures (with what went wrong)."""

    def __init__(self, server: Mempool, kept: int, fresh: int):
        self.server = server
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.retried = 0
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._kept) for _ in range(kept)]
        self.threads += [threading.Thread(target=self._fresh) for _ in range(fresh)]

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_flag.set()
        for t in self.threads:
            t.join()

    def _count(self, failure: str | None = None) -> None:
        with self.lock:
            if failure is None:
                self.ok += 1
            else:
                self.failures.append(failure)

    def _exchange(self, conn: http.client.HTTPConnection) -> None:
        conn.request("GET", "/hello")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200 or not body:
            raise AssertionError(f"status {response.status}, {len(body)} bytes")

    def _kept(self) -> None:
        conn, used = self.server.connection(), False
        while not self.stop_flag.is_set():
            try:
                self._exchange(conn)
                used = True
                self._count()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                conn.close()
                conn = self.server.connection()
                if not used:  # a fresh connection closed without a response: a lost request
                    self._count(f"kept-alive, fresh connection: {e!r}")
                    continue
                used = False
                with self.lock:
                    self.retried += 1
                try:  # the clean close between requests: retry once, on a fresh connection
                    self._exchange(conn)
                    used = True
                    self._count()
                except Exception as e2:  # noqa: BLE001
                    conn.close()
                    conn = self.server.connection()
                    self._count(f"kept-alive retry: {e2!r}")
            except Exception as e:  # noqa: BLE001
                conn.close()
                conn, used = self.server.connection(), False
                self._count(f"kept-alive: {e!r}")
        conn.close()

    def _fresh(self) -> None:
        while not self.stop_flag.is_set():
            conn = self.server.connection()
            try:
                conn.request("GET", "/hello", headers={"Connection": "close"})
                response = conn.getresponse()
                body = response.read()
                self._count(None if response.status == 200 and body else f"fresh: status {response.status}")
            except Exception as e:  # noqa: BLE001
                self._count(f"fresh: {e!r}")
            finally:
                conn.close()


def case_kill(server: Mempool) -> None:
    server.start(BASE)
    master = server.proc.pid
    wait_for("two workers", lambda: len(children(master)) == 2)
    started = time.monotonic()
    with Load(server, kept=CLIENTS, fresh=0) as load:
        wait_for("some load", lambda: load.ok > 200, timeout=20)
        time.sleep(max(0.0, started + 1.2 - time.monotonic()))  # older than the back-off's "quick death"
        s = stats(server)
        victim = workers_of(s)[1]["pid"]
        other = workers_of(s)[2]["pid"]
        before = children(master)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        replacement = wait_for("a replacement worker",
                               lambda: (children(master) - before - {victim}) or None, timeout=5, interval=0.005)
        latency_ms = (time.monotonic() - killed_at) * 1000
        assert latency_ms < 1000, f"replaced after {latency_ms:.0f} ms"
        ok_at_kill = load.ok
        wait_for("answers after the kill", lambda: load.ok > ok_at_kill + 200, timeout=20)
    assert other in children(master), "the other worker died too"
    assert len(load.failures) <= CLIENTS, f"{len(load.failures)} failures: {load.failures[:10]}"
    assert re.search(rf"worker 1 \(pid {victim}\) killed by signal 9 \(Killed\); starting another\n",
                     server_log(server)), server_log(server)
    new_pid = next(iter(replacement))

    def restart_shown():
        w = workers_of(stats(server))
        return w if w.get(1, {}).get("pid") == new_pid else None
    w = wait_for("/stats to show the new worker", restart_shown)
    assert w[1]["restarts"] == 1 and w[2]["restarts"] == 0, w
    assert w[2]["pid"] == other, w
    _, metrics = server.get("/metrics", admin=True)
    assert 'mempool_worker_process_restarts_total{worker="1"} 1\n' in metrics.decode(), metrics.decode()[:2000]
    print(f"kill: replaced in {latency_ms:.1f} ms; {load.ok} requests answered, {len(load.failures)} failed "
          f"(in flight on the killed worker), {load.retried} retried after a close")

    # A replacement that dies within a second of its start is restarted after a back-off.
    os.kill(new_pid, signal.SIGKILL)
    wait_for("the back-off", lambda: re.search(
        rf"worker 1 \(pid {new_pid}\) killed by signal 9 \(Killed\); starting another in 100 ms", server_log(server)))
    wait_for("the worker after the back-off", lambda: len(children(master)) == 2)
    assert server.get("/hello")[0] == 200


def case_sums(server: Mempool) -> None:
    server.start(BASE)
    sent = 0
    for _ in range(60):  # fresh connections: the kernel hands them to either worker
        assert server.get("/hello")[0] == 200
        sent += 1
    conns = [server.connection() for _ in range(4)]
    for _ in range(25):
        for conn in conns:
            conn.request("GET", "/hello")
            r = conn.getresponse()
            r.read()
            assert r.status == 200
            sent += 1
    for conn in conns:
        conn.close()
    # Each worker publishes its figures about once a second; the worker that answers counts its
    # own live, this request included. So the n-th admin request sees sent + n once every earlier
    # one has been published: asked until then.
    asked = 0

    def per_worker_requests():
        nonlocal asked
        asked += 1
        s = stats(server)
        per_worker: dict[int, int] = {}
        for reactor in s["reactors"]:
            per_worker[reactor["worker"]] = per_worker.get(reactor["worker"], 0) + reactor["server"]["requests"]
        return (s, per_worker) if sum(per_worker.values()) == sent + asked else None
    s, per_worker = wait_for("/stats to add up to the requests sent", per_worker_requests, timeout=10, interval=0.3)
    assert sorted(per_worker) == [1, 2], per_worker
    assert sorted(workers_of(s)) == [1, 2], s["workers"]

    def metric_samples():
        nonlocal asked
        asked += 1
        metrics = server.get("/metrics", admin=True)[1].decode()
        samples = re.findall(r'^mempool_server_requests_total\{worker="(\d)",reactor="0"\} (\d+)$', metrics, re.M)
        return (metrics, samples) if sum(int(v) for _, v in samples) == sent + asked else None
    metrics, samples = wait_for("/metrics to add up to the requests sent", metric_samples, timeout=10, interval=0.3)
    assert len(samples) == 2, samples
    families = {f.name: f for f in text_string_to_metric_families(metrics)}  # a real parser's view
    restarts = families["mempool_worker_process_restarts"]
    assert restarts.type == "counter" and sorted(x.labels["worker"] for x in restarts.samples) == ["1", "2"]
    print(f"sums: {sent} requests sent, per worker {per_worker} (with the {asked} admin requests)")


def case_hup(server: Mempool) -> None:
    server.start(BASE)
    master = server.proc.pid
    wait_for("two workers", lambda: len(children(master)) == 2)
    first = children(master)
    with Load(server, kept=3, fresh=2) as load:
        wait_for("some load", lambda: load.ok > 200, timeout=20)
        server.write_config('server_name = "reloaded"\n' + BASE)
        server.signal(signal.SIGHUP)
        wait_for("the old generation to drain", lambda: not (children(master) & first), timeout=15)
        assert len(children(master)) == 2, children(master)
        ok_at_reload = load.ok
        wait_for("answers from the new generation", lambda: load.ok > ok_at_reload + 200, timeout=20)
    assert not load.failures, f"{len(load.failures)} lost requests: {load.failures[:10]}"
    conn = server.connection()
    conn.request("GET", "/hello")
    r = conn.getresponse()
    r.read()
    assert r.getheader("Server") == "reloaded", r.getheader("Server")
    log = server_log(server)
    assert "SIGHUP: config reloaded" in log, log
    assert len(re.findall(r"worker [12] \(pid \d+\) exited with status 0 after draining", log)) == 2, log
    w = workers_of(stats(server))
    assert sorted(w) == [3, 4] and all(v["generation"] == 1 for v in w.values()), w
    print(f"hup: {load.ok} requests answered across the reload, none lost, {load.retried} retried after a "
          "clean close between requests")

    # A broken file: refused with its position, the workers stay and serve.
    serving = children(master)
    server.config.write_text(server.config.read_text() + "reactors = \n")
    server.signal(signal.SIGHUP)
    wait_for("the refusal", lambda: "SIGHUP: config refused, the workers keep the one in force: " in server_log(server))
    assert re.search(r"server\.toml:\d+:\d+: ", server_log(server)), server_log(server)
    time.sleep(0.3)
    assert children(master) == serving
    assert server.get("/hello")[0] == 200


def case_signals(server: Mempool) -> None:
    server.start(BASE)
    master = server.proc.pid
    wait_for("two workers", lambda: len(children(master)) == 2)
    workers = children(master)
    server.signal(signal.SIGUSR1)
    wait_for("the workers to reopen their logs",
             lambda: server_log(server).count("SIGUSR1: log files reopened") == 3)  # master + 2 workers
    conn = server.connection()
    conn.request("POST", "/echo", body=b"x" * 10)
    r = conn.getresponse()
    r.read()
    assert r.status == 200
    # A request in progress (half of its body sent) holds its worker through the drain, whose
    # grace period is 10 s; the second SIGTERM closes it at once.
    stuck = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    stuck.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 50)
    time.sleep(0.2)
    server.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert server.proc.poll() is None, "the master did not wait for the request in progress"
    again = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.wait() == 0, server_log(server)
    assert time.monotonic() - again < 5, "the second SIGTERM did not stop the workers at once"
    try:
        answer = stuck.recv(4096)
    except ConnectionResetError:
        answer = b""
    assert answer == b"", f"the request in progress was answered instead of closed: {answer[:100]!r}"
    stuck.close()
    assert all(gone(pid) for pid in workers), workers
    log = server_log(server)
    assert "SIGTERM: draining 2 workers" in log and "master: stopped" in log, log
    assert "SIGTERM again: the workers close every connection now" in log, log


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def case_orphans(server: Mempool) -> None:
    """A master killed with SIGKILL takes its workers with it (PR_SET_PDEATHSIG: they drain and exit)."""
    server.start(BASE)
    master = server.proc.pid
    workers = wait_for("two workers", lambda: children(master) if len(children(master)) == 2 else None)
    server.proc.kill()
    server.proc.wait()
    wait_for("the workers to exit after their master", lambda: all(gone(pid) for pid in workers), timeout=10)


def case_startup(server: Mempool) -> None:
    """What the master does before it forks: the open-file limit (per worker: its share of
    max_connections, its reactors' caches and listeners), and an address already taken: exit 1
    naming it."""
    server.start('root = "{dir}"\n' + BASE + '"/" = "static"\n[limits]\nmax_connections = 10000\n',
                 preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (32, 64)))
    assert server.get("/hello")[0] == 200
    expected = ("open-file limit is 64 (raised from 32; hard limit 64), below the 6002 descriptors the config may "
                "hold open: max_connections 5000 + open-file caches 1 x 1000 + 2 listeners")
    assert expected in server_log(server), server_log(server)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    config = server.workdir / "taken.toml"
    config.write_text(f'listen = "127.0.0.1:{port}"\nworkers = 2\nreactors = 1\n[admin]\nlisten = "off"\n')
    r = subprocess.run([str(server.binary), "--config", str(config)], capture_output=True, text=True, timeout=30)
    taken.close()
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"cannot listen on 127.0.0.1:{port}: another process (or server) is listening there" in r.stderr, r.stderr


CASES = {"kill": case_kill, "sums": case_sums, "hup": case_hup, "signals": case_signals, "startup": case_startup,
         "orphans": case_orphans}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mempool", required=True)
    parser.add_argument("cases", nargs="*", default=list(CASES))
    args = parser.parse_args()
    for name in args.cases:
        with tempfile.TemporaryDirectory(prefix=f"mempool-workers-{name}-") as tmp:
            server = Mempool(Path(args.mempool), Path(tmp))
            try:
                CASES[name](server)
            except BaseException:
                print(server_log(server), file=sys.stderr)
                raise
            finally:
                code = server.stop()
            expected = -signal.SIGKILL if name == "orphans" else 0  # that master was killed
            assert code == expected, f"exit {code}\n{server_log(server)}"
            print(f"workers {name}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
