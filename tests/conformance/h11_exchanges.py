#!/usr/bin/python3
"""An independent strict client reads mempool-server's answers: Debian's python3-h11 (a strict
HTTP/1.1 state machine) replays a set of exchanges against the built server and fails on anything
it rejects in a response: a malformed status line or field, a body that does not match its
framing, bytes after a response that belong to none (a body after a HEAD answer), a second
response where none was due.

  h11_exchanges.py --mempool build/.../server/mempool-server [--only SUBSTRING]

An exchange is a list of requests on one connection, written one after the other (keep-alive) or
all at once (pipelined), each with the answer expected. Requests h11 cannot write (malformed
ones, HTTP/1.0) go out as raw bytes while h11 is told the request it should expect an answer to.
`xfail` marks an exchange mempool is known to fail for a reason outside the parser (reported,
not failed on).
"""
from __future__ import annotations

import argparse
import socket
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import h11

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import servers  # noqa: E402

TIMEOUT_S = 5.0


@dataclass
class Step:
    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    chunked: bool = False            # send the body chunked (h11 frames it)
    raw: bytes | None = None         # bytes to write instead of what h11 would write
    status: int = 200                # the answer expected
    expect_body: bytes | None = None  # and its body, when it matters
    closes: bool = False             # the server closes after this answer
    body_sent: bool = True           # False: the declared body never comes (an early answer)


@dataclass
class Exchange:
    name: str
    steps: list[Step]
    pipelined: bool = False
    xfail: str = ""


def req(method: str, target: str, *headers: tuple[str, str], **kw) -> Step:
    return Step(method, target, list(headers), **kw)


FAR_FUTURE = "Fri, 31 Dec 9999 23:59:59 GMT"
HUGE_HEAD = b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n"

EXCHANGES = [
    Exchange("GET", [req("GET", "/hello", expect_body=b"Hello, World!")]),
    Exchange("HEAD", [req("HEAD", "/index.html")]),
    Exchange("GET a static file", [req("GET", "/index.html", expect_body=servers.INDEX_HTML)]),
    Exchange("POST with Content-Length", [req("POST", "/echo", body=b"hello world", expect_body=b"hello world")]),
    Exchange("POST chunked", [req("POST", "/echo", body=b"chunked body" * 100, chunked=True,
                                  expect_body=b"chunked body" * 100)]),
    Exchange("Expect 100-continue", [req("POST", "/echo", ("Expect", "100-continue"), body=b"after 100",
                                         expect_body=b"after 100")]),
    Exchange("keep-alive: GET, POST, HEAD, 404 on one connection", [
        req("GET", "/hello"), req("POST", "/echo", body=b"x" * 5000, expect_body=b"x" * 5000),
        req("HEAD", "/data.bin"), req("GET", "/missing", status=404)]),
    Exchange("pipelined GET, HEAD, POST, chunked POST, 404", [
        req("GET", "/hello"), req("HEAD", "/index.html"), req("POST", "/echo", body=b"p" * 3000),
        req("POST", "/echo", body=b"chunks", chunked=True, expect_body=b"chunks"),
        req("GET", "/missing", status=404)], pipelined=True),
    Exchange("404", [req("GET", "/missing", status=404)]),
    Exchange("HEAD 404", [req("HEAD", "/missing", status=404), req("GET", "/hello")]),
    Exchange("304 by If-Modified-Since", [req("GET", "/index.html", ("If-Modified-Since", FAR_FUTURE), status=304),
                                          req("GET", "/hello")]),
    Exchange("304 by If-None-Match *", [req("GET", "/index.html", ("If-None-Match", "*"), status=304)]),
    Exchange("Range 206", [req("GET", "/data.bin", ("Range", "bytes=10-19"), status=206,
                               expect_body=servers.RANGE_FILE[10:20]),
                           req("GET", "/data.bin", ("Range", "bytes=-5"), status=206,
                               expect_body=servers.RANGE_FILE[-5:])]),
    Exchange("Range 416", [req("GET", "/data.bin", ("Range", "bytes=5000-"), status=416), req("GET", "/hello")]),
    Exchange("405", [req("DELETE", "/hello", status=405), req("GET", "/hello")]),
    Exchange("501 unknown method", [req("FOO", "/hello", status=501, closes=True)]),
    Exchange("HTTP/1.0 request", [req("GET", "/hello", ("Connection", "close"),
                                      raw=b"GET /hello HTTP/1.0\r\n\r\n", expect_body=b"Hello, World!", closes=True)]),
    Exchange("400 for a space before a colon", [
        req("GET", "/hello", raw=b"GET /hello HTTP/1.1\r\nHost: t\r\nX : y\r\n\r\n", status=400, closes=True)]),
    Exchange("400 for a bare CR after chunk data", [
        req("POST", "/echo", body=b"hello", chunked=True, status=400, closes=True,
            raw=b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\rX0\r\n\r\n")]),
    Exchange("400 for Transfer-Encoding in HTTP/1.0", [
        req("POST", "/echo", body=b"hello", chunked=True, status=400, closes=True,
            raw=b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")]),
    Exchange("413 for a declared body over the limit", [
        req("POST", "/echo", ("Content-Length", "2000000"), status=413, closes=True, body_sent=False,
            raw=b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n")]),
    Exchange("414 for a long target", [
        req("GET", "/hello", raw=b"GET /" + b"u" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", status=414, closes=True)]),
    Exchange("431 for a huge head", [req("GET", "/hello", raw=HUGE_HEAD, status=431, closes=True)]),
    Exchange("pipelined requests after a 400 are not answered", [
        req("GET", "/hello", raw=b"GET /hello HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", status=400, closes=True),
        req("GET", "/hello")], pipelined=True),
    Exchange("HEAD refused with 400 gets no body", [
        req("HEAD", "/hello", raw=b"HEAD /hello HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", status=400, closes=True)]),
]


class Failure(Exception):
    pass


def h11_request(step: Step) -> h11.Request:
    headers = [("Host", "t"), *step.headers]
    if step.body and not step.chunked and not any(k.lower() == "content-length" for k, _ in step.headers):
        headers.append(("Content-Length", str(len(step.body))))
    if step.chunked:
        headers.append(("Transfer-Encoding", "chunked"))
    return h11.Request(method=step.method, target=step.target, headers=headers)


def send_step(conn: h11.Connection, step: Step) -> bytes:
    """What goes on the wire for `step` (h11's bytes, or the raw ones); h11 expects its answer."""
    wire = conn.send(h11_request(step))
    if step.body and not step.raw and any(k.lower() == "expect" for k, _ in step.headers):
        return wire  # the body waits for the 100
    wire += send_body(conn, step)
    return step.raw if step.raw is not None else wire


def send_body(conn: h11.Connection, step: Step) -> bytes:
    if not step.body_sent:
        return b""  # h11 stays in SEND_BODY: the answer comes early
    wire = conn.send(h11.Data(data=step.body)) if step.body and conn.our_state is h11.SEND_BODY else b""
    if conn.our_state is h11.SEND_BODY:
        wire += conn.send(h11.EndOfMessage())
    return wire


def read_answer(conn: h11.Connection, sock: socket.socket, step: Step) -> None:
    """Reads one answer through h11 and checks it against the step."""
    status, body = None, b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = sock.recv(65536)
            conn.receive_data(data)
            continue
        if isinstance(event, h11.InformationalResponse):
            if event.status_code == 100 and conn.our_state is h11.SEND_BODY:
                sock.sendall(send_body(conn, step))
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
        elif isinstance(event, h11.ConnectionClosed):
            raise Failure(f"{step.method} {step.target[:40]}: the connection closed before an answer")
    if status != step.status:
        raise Failure(f"{step.method} {step.target[:40]}: status {status}, expected {step.status}")
    if step.expect_body is not None and body != step.expect_body:
        raise Failure(f"{step.method} {step.target[:40]}: body of {len(body)} bytes differs from the expected "
                      f"{len(step.expect_body)}")


def finish(conn: h11.Connection, sock: socket.socket, closes: bool) -> None:
    """After the last answer: the connection ends if the server said so, and no byte is left over
    that belongs to no response (a body after a HEAD answer, say)."""
    if closes:
        if conn.their_state is not h11.MUST_CLOSE and conn.their_state is not h11.CLOSED:
            raise Failure(f"the answer did not announce the close (server state {conn.their_state})")
        while (data := sock.recv(65536)):
            conn.receive_data(data)
    trailing, _ = conn.trailing_data
    if trailing:
        raise Failure(f"{len(trailing)} bytes after the last answer belong to no response: {trailing[:40]!r}")


def run_exchange(port: int, exchange: Exchange) -> str | None:
    """None if h11 accepted every answer as expected, else what went wrong."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
            conn = h11.Connection(our_role=h11.CLIENT)
            if exchange.pipelined:
                wire = b""
                for i, step in enumerate(exchange.steps):
                    if i > 0:  # h11 writes one request per cycle; the bytes go out together anyway
                        conn = h11.Connection(our_role=h11.CLIENT)
                    wire += send_step(conn, step)
                sock.sendall(wire)
                conn = h11.Connection(our_role=h11.CLIENT)
            for i, step in enumerate(exchange.steps):
                if exchange.pipelined:
                    conn.send(h11_request(step))  # tell h11 what the next answer is for
                    send_body(conn, step)
                else:
                    sock.sendall(send_step(conn, step))
                read_answer(conn, sock, step)
                if step.closes:
                    finish(conn, sock, True)
                    if i + 1 < len(exchange.steps) and not exchange.pipelined:
                        raise Failure("a step after a closing answer")
                    return None
                conn.start_next_cycle()
            finish(conn, sock, False)
    except (Failure, h11.ProtocolError) as e:
        return f"{type(e).__name__}: {e}"
    except OSError as e:
        return f"socket: {e}"
    except Exception:  # noqa: BLE001 - a bug in the test must show
        return traceback.format_exc()
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mempool", type=lambda p: Path(p).resolve(), required=True, help="the built mempool-server")
    parser.add_argument("--only", help="run only the exchanges whose name contains this")
    args = parser.parse_args()
    exchanges = [e for e in EXCHANGES if not args.only or args.only in e.name]
    failures = 0
    with servers.TempDir() as tmp:
        try:
            server = servers.start_mempool(args.mempool, tmp, servers.make_docroot(tmp))
        except servers.ServerError as e:
            print(f"h11: cannot start mempool-server: {e}", file=sys.stderr)
            return 1
        try:
            for exchange in exchanges:
                problem = run_exchange(server.port, exchange)
                if problem is None:
                    verdict = "ok" if not exchange.xfail else f"XPASS (was xfail: {exchange.xfail}; flip it)"
                elif exchange.xfail:
                    verdict = f"xfail ({exchange.xfail}): {problem}"
                else:
                    verdict = f"FAIL: {problem}"
                    failures += 1
                print(f"{exchange.name:<55} {verdict}")
        finally:
            status = server.stop()
        if status != 0:
            print(f"mempool-server exited with status {status} after SIGTERM:\n{server.log_tail(40)}")
            failures += 1
    print(f"\nh11: {len(exchanges)} exchanges, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
