"""mempool-server as a child process for the operations tests (tests/ops/): a config file of the
test's own, free loopback ports for the public and the admin listener, the error log captured in
a file, and small HTTP helpers (http.client: one request per call, or a kept-alive connection).

Every wait has a deadline, so a server that stops answering fails the test instead of hanging it.
"""
from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import time
from pathlib import Path

START_TIMEOUT_S = 20.0  # an ASan build starts slower


def free_port() -> int:
    """A loopback TCP port free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, predicate, timeout: float = 10.0, interval: float = 0.05):
    """Polls `predicate` until it returns something true; raises AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Mempool:
    """One mempool-server: start() with a config text (a {port} and {admin} placeholder may
    appear in it), stop() with a signal, its log as text."""

    def __init__(self, binary: Path, workdir: Path):
        self.binary = Path(binary)
        self.workdir = Path(workdir)
        self.port = free_port()
        self.admin = free_port()
        self.config = self.workdir / "server.toml"
        self.log = self.workdir / "error.log"
        self.proc: subprocess.Popen | None = None

    def write_config(self, text: str) -> None:
        self.config.write_text(text.format(port=self.port, admin=self.admin, dir=self.workdir))

    def start(self, text: str, extra: list[str] | None = None, preexec_fn=None) -> "Mempool":
        """`preexec_fn` runs in the child before exec (a test sets resource limits there)."""
        self.write_config(text)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([str(self.binary), "--config", str(self.config), *(extra or [])],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.workdir, preexec_fn=preexec_fn)
        wait_for(f"mempool-server to listen on {self.port}", self._listening, START_TIMEOUT_S)
        return self

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"mempool-server exited with {self.proc.returncode} at start:\n{self.log_text()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 20.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def get(self, path: str, admin: bool = False, timeout: float = 10.0) -> tuple[int, bytes]:
        """One request on a fresh connection: (status, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.admin if admin else self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def connection(self, admin: bool = False) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.admin if admin else self.port, timeout=10)


def kept_alive_get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()
