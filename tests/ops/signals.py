#!/usr/bin/python3
"""Signals of the real mempool-server binary (issue 12 item 4, issue 10 item 4), each case a fresh
server:
  reload     SIGHUP applies a new file (routes, Server header, access log format) to new requests
             while a kept-alive connection goes on working across it; a bad file is refused with
             FILE:LINE:COLUMN in the log and the old config stays in force.
  reopen     SIGUSR1 after logrotate's move: the access and error logs go on in new files, and no
             access log line is lost (old file + new file = every request).
  stop       SIGTERM: a graceful stop, exit 0, the final report line; a second SIGTERM during
             the grace period closes a connection still in progress at once, cleanly (exit 0,
             the final line written).
Usage: signals.py --mempool BUILD/bin/mempool-server [CASE...]
"""
from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mempool_process import Mempool, kept_alive_get, wait_for  # noqa: E402

BASE = """listen = "127.0.0.1:{port}"
reactors = 2
log_level = "info"
access_log = "{dir}/access.log"
error_log = "{dir}/server-error.log"
[admin]
listen = "127.0.0.1:{admin}"
"""


def server_log(server: Mempool) -> str:
    path = server.workdir / "server-error.log"
    return (path.read_text(errors="replace") if path.exists() else "") + server.log_text()


def post_echo(conn, size: int) -> int:
    conn.request("POST", "/echo", body=b"x" * size)
    response = conn.getresponse()
    response.read()
    return response.status


def case_reload(server: Mempool) -> None:
    server.start(BASE + '[routes]\n"/hello" = "hello"\n"/echo" = "echo"\n')
    kept = server.connection()
    status, _ = kept_alive_get(kept, "/hello")
    assert status == 200
    kept.request("GET", "/hello")
    first = kept.getresponse()
    first.read()
    assert first.getheader("Server") == "mempool"
    sock = kept.sock

    server.write_config(BASE.replace('access_log = "{dir}/access.log"',
                                     'access_log = "{dir}/access.json"\naccess_log_format = "json"\n'
                                     'server_name = "reloaded"').replace('log_level = "info"', 'log_level = "warn"') +
                        '[routes]\n"/hi" = "hello"\n"/echo" = "echo"\n[limits]\nmax_body_bytes = "1k"\n')
    assert post_echo(server.connection(), 4096) == 200  # under the first config's 1m limit
    text = server.config.read_text()
    server.signal(signal.SIGHUP)
    # The reload's own line is at info: the new level (warn) hides it, as it should; the error log
    # says nothing at warn unless something is refused, so wait for the new routes instead.
    wait_for("the reload", lambda: server.get("/hi")[0] == 200 and server.get("/hi")[0] == 200)
    time.sleep(0.2)  # every reactor has applied it (posted to each)
    assert "SIGHUP: config reloaded" not in server_log(server), "log_level warn was not applied"

    status, _ = kept_alive_get(kept, "/hello")
    assert status == 404, f"the old route still answers after the reload: {status}"
    kept.request("GET", "/hi")
    r = kept.getresponse()
    assert r.status == 200 and r.read() == b"Hello, World!"
    assert r.getheader("Server") == "reloaded", r.getheader("Server")
    assert kept.sock is sock, "the kept-alive connection was replaced: the reload dropped it"
    assert server.get("/hi")[0] == 200 and server.get("/hello")[0] == 404
    assert post_echo(server.connection(), 4096) == 413, "the reloaded body limit is not in force"
    assert post_echo(server.connection(), 512) == 200
    wait_for("JSON access log lines", lambda: (server.workdir / "access.json").exists() and
             (server.workdir / "access.json").read_text().count("\n") >= 2, timeout=5)
    for line in (server.workdir / "access.json").read_text().splitlines():
        entry = json.loads(line)
        assert entry["status"] in (200, 404, 413) and set(entry) == {
            "time_local", "remote_addr", "request", "status", "bytes_sent", "http_referer", "http_user_agent"}, entry

    # A bad file is refused, with its position; the config in force stays.
    bad = text.replace('max_body_bytes = "1k"', 'max_body_bytes = "lots"')
    line = bad.splitlines().index('max_body_bytes = "lots"') + 1
    server.config.write_text(bad)
    server.signal(signal.SIGHUP)
    wait_for("the refusal in the log", lambda: "SIGHUP: config refused" in server_log(server))
    refused = [entry for entry in server_log(server).splitlines() if "SIGHUP: config refused" in entry][0]
    assert f"{server.config}:{line}:18: 'limits.max_body_bytes' must be a size" in refused, refused
    status, _ = kept_alive_get(kept, "/hi")
    assert status == 200 and kept.sock is sock
    assert post_echo(server.connection(), 4096) == 413, "the refused file's limits took effect"
    kept.close()
    assert server.stop() == 0


def case_reopen(server: Mempool) -> None:
    server.start(BASE)
    access, error = server.workdir / "access.log", server.workdir / "server-error.log"
    sent = 0
    for _ in range(20):
        assert server.get("/hello")[0] == 200
        sent += 1
    access.rename(server.workdir / "access.log.1")     # what logrotate does, then postrotate:
    error.rename(server.workdir / "server-error.log.1")
    for _ in range(10):  # these go on into the moved file, until the reopen
        assert server.get("/hello")[0] == 200
        sent += 1
    server.signal(signal.SIGUSR1)
    wait_for("a new error log", lambda: error.exists() and "log files reopened" in error.read_text())
    for _ in range(15):
        assert server.get("/hello")[0] == 200
        sent += 1
    assert server.stop() == 0
    old = (server.workdir / "access.log.1").read_text().splitlines()
    new = access.read_text().splitlines()
    assert len(new) >= 15, f"{len(new)} lines in the reopened access log"
    assert len(old) + len(new) == sent, f"{len(old)} + {len(new)} lines for {sent} requests"
    assert all('"GET /hello HTTP/1.1" 200 13' in line for line in old + new)
    assert "stopped:" in error.read_text(), "the final report line is in the new error log"


def case_stop(server: Mempool) -> None:
    slow = BASE + '[timeouts]\nheader = "60s"\nshutdown_grace = "60s"\n'
    server.start(slow)
    # A request whose head is still arriving: the graceful stop waits for it.
    hanging = socket.create_connection(("127.0.0.1", server.port))
    hanging.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.3)
    server.signal(signal.SIGTERM)
    wait_for("the stop in the log", lambda: "SIGTERM: stopping" in server_log(server))
    time.sleep(1.0)
    assert server.proc.poll() is None, "the first SIGTERM did not wait for the request in progress"
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    code = server.wait(timeout=10)
    took = time.monotonic() - started
    assert code == 0, f"exit status {code}"
    assert took < 5, f"the second SIGTERM took {took:.1f} s"
    text = server_log(server)
    assert "SIGTERM again: closing every connection now" in text, text
    assert "stopped:" in text and "pools outstanding" in text, text
    hanging.close()

    # SIGHUP and SIGUSR1 are no longer fatal, and one SIGTERM with nothing in progress is quick.
    second = Mempool(server.binary, server.workdir / "plain")
    second.workdir.mkdir()
    second.start(BASE.replace("{dir}", str(second.workdir)))
    for s in (signal.SIGHUP, signal.SIGUSR1):
        second.signal(s)
    time.sleep(0.5)
    assert second.proc.poll() is None, "SIGHUP or SIGUSR1 killed the server"
    assert second.get("/hello")[0] == 200
    assert second.stop() == 0
    assert "stopped: " in server_log(second)


CASES = {"reload": case_reload, "reopen": case_reopen, "stop": case_stop}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mempool", required=True)
    parser.add_argument("cases", nargs="*", default=list(CASES))
    args = parser.parse_args()
    for name in args.cases:
        with tempfile.TemporaryDirectory(prefix=f"mempool-signals-{name}-") as tmp:
            server = Mempool(Path(args.mempool), Path(tmp))
            try:
                CASES[name](server)
            except BaseException:
                print(f"signals: {name} FAILED; server log:\n{server_log(server)}", file=sys.stderr)
                raise
            finally:
                server.stop()
        print(f"signals: {name} ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
