#!/usr/bin/python3
"""Raw-bytes conformance: every case of raw_cases.py sent to mempool-server and to nginx, side by
side. Prints one line per case (nginx's outcome, mempool's outcome, the verdict) and a summary.

  raw_conformance.py --mempool build/.../server/mempool-server [--without-nginx] [--only SUBSTRING]

Fails (exit 1) when mempool answers a case wrongly that is not marked xfail: every case nginx
answers correctly is in that set, since the table only allows answers RFC 9110/9112 allow. Also
fails when nginx cannot start (CI installs it: scripts/setup.sh test), or when mempool-server
does not exit 0 on SIGTERM afterwards (a sanitizer report makes it exit non-zero).

An outcome reads "<statuses of the answers> <how the connection ended>": close (FIN), reset,
open (still open when the client stopped waiting), "+garbage" when bytes came back that are no
well-formed response (a body after a HEAD answer, say), "send: reset" when the server reset the
connection while the client was still writing.
"""
from __future__ import annotations

import argparse
import re
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import raw_cases  # noqa: E402
import servers  # noqa: E402
from raw_cases import ANY, CLEAN, CLOSE, NEXT, Case  # noqa: E402

# How long the client waits for the connection to end after its last write. Correct answers end
# it at once (every case closes: the follow-up asks for it); only a wrong one waits this long.
READ_TIMEOUT_S = 3.0
SEND_TIMEOUT_S = 3.0
PARALLEL_CASES = 8

STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})( [^\r\n]*)?")


@dataclass
class Outcome:
    statuses: list[int] = field(default_factory=list)
    end: str = "open"          # close | reset | open
    garbage: bool = False
    send_reset: bool = False   # the server reset the connection while the client was writing

    def __str__(self) -> str:
        text = " ".join(map(str, self.statuses)) or "none"
        text += " " + self.end
        if self.garbage:
            text += " +garbage"
        if self.send_reset:
            text += " (send: reset)"
        return text


def exchange(port: int, case: Case) -> Outcome:
    """Writes the case's pieces (pausing between them), then reads until the connection ends."""
    outcome = Outcome()
    data = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=SEND_TIMEOUT_S) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, piece in enumerate(case.wire()):
            if i:
                time.sleep(case.pause)
            try:
                s.sendall(piece)
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                outcome.send_reset = True
                break
        if case.half_close and not outcome.send_reset:
            s.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while (remaining := deadline - time.monotonic()) > 0:
            s.settimeout(remaining)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                outcome.end = "reset"
                break
            if not chunk:
                outcome.end = "close"
                break
            data += chunk
    outcome.statuses, outcome.garbage = parse_responses(bytes(data), case.head_responses)
    return outcome


def parse_responses(data: bytes, head_responses: int) -> tuple[list[int], bool]:
    """Final statuses of the responses in `data` (1xx skipped), and whether bytes were left over
    that are no response. The first `head_responses` answers have no body (HEAD)."""
    statuses: list[int] = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        lines = data[pos:end].split(b"\r\n") if end >= 0 else []
        match = STATUS_LINE.fullmatch(lines[0]) if lines else None
        if match is None:
            return statuses, True
        status = int(match.group(1))
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        pos = end + 4
        if 100 <= status < 200:
            continue
        if len(statuses) < head_responses or status in (204, 304):
            length = 0
        elif b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            return statuses + [status], False  # no case asks for a chunked answer: read no further
        else:
            length = int(headers.get(b"content-length", b"-1"))
            if length < 0:  # delimited by the close
                length = len(data) - pos
        if pos + length > len(data):
            return statuses + [status], True  # shorter than it said
        pos += length
        statuses.append(status)
    return statuses, False


def correct(case: Case, o: Outcome) -> bool:
    if o.garbage or not o.statuses:
        return False
    for a in case.accept:
        if o.statuses[0] not in a.statuses:
            continue
        if a.then == ANY:
            return True
        if a.then == NEXT:
            ok = (len(o.statuses) == a.answers and all(s in a.second for s in o.statuses[1:]) and
                  o.end in ("close", "reset"))
        elif a.then == CLOSE:
            ok = len(o.statuses) == 1 and o.end in ("close", "reset")
        elif a.then == CLEAN:
            ok = len(o.statuses) == 1 and o.end == "close" and not o.send_reset
        else:
            raise ValueError(f"unknown expectation {a.then!r}")
        if ok:
            return True
    return False


def expected_text(case: Case) -> str:
    def one(a) -> str:
        statuses = "/".join(map(str, sorted(a.statuses)))
        if a.then == NEXT:
            rest = " ".join(["/".join(map(str, sorted(a.second)))] * (a.answers - 1))
            return f"{statuses} {rest} close"
        return f"{statuses} {a.then}"
    return " or ".join(one(a) for a in case.accept)


def run_all(cases: list[Case], ports: dict[str, int]) -> dict[tuple[str, str], Outcome]:
    jobs = [(name, case) for case in cases for name in ports]
    with ThreadPoolExecutor(PARALLEL_CASES) as pool:
        outcomes = pool.map(lambda job: exchange(ports[job[0]], job[1]), jobs)
        return {(name, case.name): o for (name, case), o in zip(jobs, outcomes)}


def report(cases: list[Case], outcomes, with_nginx: bool) -> int:
    """Prints the table and the summary; returns how many cases fail the test."""
    width = max(len(c.name) for c in cases)
    print(f"{'case':<{width}}  {'nginx':<22} {'mempool':<22} verdict")
    counts = {"nginx": 0, "mempool": 0}
    failures, xfails, xpasses = [], [], []
    for case in cases:
        ok = {}
        for name in ("nginx", "mempool"):
            if (name, case.name) in outcomes:
                ok[name] = correct(case, outcomes[(name, case.name)])
                counts[name] += ok[name]
        if ok["mempool"]:
            verdict = "ok" if not case.xfail else f"XPASS (was xfail: {case.xfail}; flip it)"
            if case.xfail:
                xpasses.append(case)
        elif case.xfail:
            verdict = f"xfail ({case.xfail})"
            xfails.append(case)
        else:
            verdict = "FAIL, expected " + expected_text(case)
            failures.append(case)
        if with_nginx and not ok["nginx"]:
            verdict += "  [nginx differs from the table: " + expected_text(case) + "]"
        nginx = str(outcomes[("nginx", case.name)]) if with_nginx else "-"
        print(f"{case.name:<{width}}  {nginx:<22} {str(outcomes[('mempool', case.name)]):<22} {verdict}")
    n = len(cases)
    print()
    if with_nginx:
        print(f"nginx:   {counts['nginx']}/{n} cases answered as the table expects")
    print(f"mempool: {counts['mempool']}/{n} cases answered as the table expects "
          f"({len(xfails)} expected failures, {len(xpasses)} unexpected passes, {len(failures)} failures)")
    for c in xfails:
        print(f"  xfail: {c.name} ({c.xfail})")
    for c in xpasses:
        print(f"  XPASS: {c.name}: mark it as expected to pass")
    if with_nginx:
        both = [c for c in failures if correct(c, outcomes[("nginx", c.name)])]
        print(f"cases nginx answers correctly and mempool does not: {len(both)}")
    return len(failures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mempool", type=lambda p: Path(p).resolve(), required=True, help="the built mempool-server")
    parser.add_argument("--without-nginx", action="store_true", help="mempool's column only (for development)")
    parser.add_argument("--only", help="run only the cases whose name contains this")
    args = parser.parse_args()
    cases = [c for c in raw_cases.CASES if not args.only or args.only in c.name]
    if not cases:
        print(f"no case matches {args.only!r}", file=sys.stderr)
        return 2

    started: list[servers.Server] = []
    with servers.TempDir() as tmp:
        try:
            www = servers.make_docroot(tmp)
            started.append(servers.start_mempool(args.mempool, tmp, www))
            if not args.without_nginx:
                started.append(servers.start_nginx(tmp, www))
        except servers.ServerError as e:
            for s in started:
                s.stop()
            print(f"conformance: cannot start the servers: {e}", file=sys.stderr)
            return 1
        try:
            outcomes = run_all(cases, {s.name: s.port for s in started})
        finally:
            statuses = {s.name: s.stop() for s in started}
        failures = report(cases, outcomes, not args.without_nginx)
        if statuses["mempool"] != 0:
            print(f"mempool-server exited with status {statuses['mempool']} after SIGTERM:\n"
                  f"{started[0].log_tail(40)}")
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
