"""The raw-bytes conformance table: requests as bytes on the wire, and the answers RFC 9110/9112
allow for each. raw_conformance.py sends every case to mempool-server and to nginx.

A case is the bytes (one write, or several pieces written with a pause between them, so the
server reads them apart), followed by default by one well-formed request, FOLLOW_UP, which
closes the connection once answered. An accepted answer is a status set and what must happen
after that first answer:
  CLOSE  nothing more is answered and the connection ends (FIN, or a reset after the answer)
  CLEAN  as CLOSE, and the end is a FIN, never a reset: a lingering close (the server kept
         reading what the client was still sending instead of resetting it)
  NEXT   one more answer (the follow-up's 200 unless the case says otherwise; more when the
         case pipelines several requests), then the connection ends
  ANY    whatever follows, as long as every byte that comes back is a well-formed response
Several answers may be allowed where the RFCs allow either (a recipient MAY accept a bare LF as
a line end, and MUST then read the rest consistently; it MAY instead reject the message).

Classes (issue 10 §1, RFC 9112): line ends (§2.2), request line (§3), field syntax (§5),
obs-fold (§5.2), Content-Length and Transfer-Encoding (§6), chunked framing (§7.1), limits,
the classic smuggling/desync shapes (CL.TE, TE.CL, TE.TE), and connection-level semantics
(§9: Connection tokens, HEAD, half-close, lingering close).

`xfail` marks a case mempool is known to get wrong for a reason outside the parser: the test
reports it (and reports when it starts passing) but does not fail on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

CLOSE, CLEAN, NEXT, ANY = "close", "clean close", "next", "any"

FOLLOW_UP = b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class Answer:
    statuses: frozenset[int]
    then: str
    second: frozenset[int] = frozenset({200})  # NEXT: what the answers after the first may be
    answers: int = 2                           # NEXT: how many answers in all


@dataclass(frozen=True)
class Case:
    name: str
    pieces: tuple[bytes, ...]
    accept: tuple[Answer, ...]
    follow_up: bool = True      # FOLLOW_UP is written with the last piece
    pause: float = 0.05         # seconds between two pieces
    head_responses: int = 0     # how many leading answers are to HEAD requests (no body)
    half_close: bool = False    # shut down the sending side after the last piece
    xfail: str = ""             # why mempool is expected to fail it, for now

    def wire(self) -> list[bytes]:
        pieces = list(self.pieces)
        if self.follow_up:
            pieces[-1] = pieces[-1] + FOLLOW_UP
        return pieces


def answer(then: str, *statuses: int, second: tuple[int, ...] = (200,), answers: int = 2) -> Answer:
    return Answer(frozenset(statuses), then, frozenset(second), answers)


REJECT = (answer(CLOSE, 400),)
SERVED = (answer(NEXT, 200),)
# Bytes the RFCs let a recipient either refuse or read consistently (a bare LF as a line end,
# several spaces between request-line words): the follow-up shows it stayed in step.
REJECT_OR_SERVED = (answer(CLOSE, 400), answer(NEXT, 200))
# RFC 9112 §6.1: both framings at once may be refused, or read by Transfer-Encoding alone;
# either way the connection closes after the answer, so the follow-up is never answered.
CL_TE = (answer(CLOSE, 400), answer(CLOSE, 200))


def case(name: str, *pieces: bytes | str, accept=REJECT, **options) -> Case:
    raw = tuple(p.encode("latin-1") if isinstance(p, str) else p for p in pieces)
    return Case(name, raw, tuple(accept), **options)


def get(target: str = "/hello", *headers: str, version: str = "1.1", method: str = "GET") -> str:
    host = ("Host: t\r\n",) if version == "1.1" else ()
    return f"{method} {target} HTTP/{version}\r\n" + "".join(host) + "".join(h + "\r\n" for h in headers) + "\r\n"


def post(*headers: str, body: str = "", version: str = "1.1", host: bool = True) -> str:
    lines = ("Host: t",) if host else ()
    return f"POST /echo HTTP/{version}\r\n" + "".join(h + "\r\n" for h in lines + headers) + "\r\n" + body


CHUNKED = "Transfer-Encoding: chunked"
BODY = "5\r\nhello\r\n0\r\n\r\n"
BIG_HEAD = tuple(f"X-{i}: " + "h" * 320 for i in range(256))

CASES: list[Case] = [
    # --- well-formed baselines: the follow-up proves the framing stayed in step -----------------
    case("GET", get(), accept=SERVED),
    case("POST Content-Length", post("Content-Length: 5", body="hello"), accept=SERVED),
    case("POST chunked with extension and trailer",
         post(CHUNKED, body="5;name=value\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"), accept=SERVED),
    case("Transfer-Encoding value case-insensitive", post("Transfer-Encoding: Chunked", body=BODY), accept=SERVED),
    case("Transfer-Encoding after a tab", post("Transfer-Encoding:\tchunked", body=BODY), accept=SERVED),
    case("Content-Length with leading zeros", post("Content-Length: 005", body="hello"), accept=SERVED),
    case("GET with a Content-Length body", get("/hello", "Content-Length: 3") + "abc", accept=SERVED),
    case("three pipelined GETs", get() + get() + get(), accept=(answer(NEXT, 200, answers=4),)),
    case("request split across reads", "GE", "T /hel", "lo HTTP/1.1\r\nHo", "st: t\r\n\r\n", accept=SERVED),
    case("chunked body split across reads", post(CHUNKED), "5\r", "\nhel", "lo\r", "\n0\r\n", "\r\n",
         accept=SERVED),
    case("empty line before the request line (RFC 9112 §2.2)", "\r\n" + get(), accept=SERVED),
    case("HTTP/1.0 closes after the answer", get(version="1.0"), accept=(answer(CLOSE, 200),)),
    case("absolute-form target", get("http://t/hello"), accept=SERVED),
    case("Expect 100-continue", post("Expect: 100-continue", "Content-Length: 5", body="hello"), accept=SERVED),

    # --- line ends (RFC 9112 §2.2): a CR must be followed by LF -------------------------------
    case("bare CR ends the request line", "GET /hello HTTP/1.1\rHost: t\r\n\r\n"),
    case("bare CR ends a header line", "GET /hello HTTP/1.1\r\nHost: t\rX: y\r\n\r\n"),
    case("bare CR inside a header value", get("/hello", "X: a\rb")),
    case("bare CR before the blank line", "GET /hello HTTP/1.1\r\nHost: t\r\n\rX\r\n\r\n"),
    case("CR then a space ends a header line", "GET /hello HTTP/1.1\r\nHost: t\r X: y\r\n\r\n"),
    case("bare CR in a header name", get("/hello", "X\rY: z")),
    case("bare CR after the chunk size", post(CHUNKED, body="5\rhello\r\n0\r\n\r\n")),
    case("bare CR in a chunk extension", post(CHUNKED, body="5;a=b\rX\r\nhello\r\n0\r\n\r\n")),
    case("bare CR in the last chunk line", post(CHUNKED, body="5\r\nhello\r\n0\rX\r\n\r\n")),
    case("bare CR in a trailer", post(CHUNKED, body="5\r\nhello\r\n0\r\nX: a\rb\r\n\r\n")),
    case("bare CR ends the trailer section", post(CHUNKED, body="5\r\nhello\r\n0\r\n\rX")),
    case("bare LF line ends throughout", "GET /hello HTTP/1.1\nHost: t\n\n",
         accept=REJECT_OR_SERVED),

    # --- chunked framing (RFC 9112 §7.1) ------------------------------------------------------
    case("two bytes other than CRLF after chunk data", post(CHUNKED, body="5\r\nhelloXX0\r\n\r\n")),
    case("CR and a byte other than LF after chunk data", post(CHUNKED, body="5\r\nhello\rX0\r\n\r\n")),
    case("bare LF after chunk data", post(CHUNKED, body="5\r\nhello\n0\r\n\r\n"),
         accept=REJECT_OR_SERVED),
    case("chunk data longer than its size", post(CHUNKED, body="3\r\nhello\r\n0\r\n\r\n")),
    case("chunk size overflows 64 bits", post(CHUNKED, body="10000000000000000\r\nhello\r\n0\r\n\r\n"),
         accept=(answer(CLOSE, 400, 413),)),
    case("chunk size with 0x prefix", post(CHUNKED, body="0x5\r\nhello\r\n0\r\n\r\n")),
    case("negative chunk size", post(CHUNKED, body="-5\r\nhello\r\n0\r\n\r\n")),
    case("empty chunk size", post(CHUNKED, body="\r\nhello\r\n0\r\n\r\n")),
    case("chunk size with a non-hex digit", post(CHUNKED, body="5g\r\nhello\r\n0\r\n\r\n")),
    case("chunk extension with a LF inside", post(CHUNKED, body="5;a\nb\r\nhello\r\n0\r\n\r\n")),
    # Extensions a server does not know it MUST ignore (RFC 9112 §7.1.1); only line ends matter.
    case("chunk extension with a NUL", post(CHUNKED, body="5;a=\x00\r\nhello\r\n0\r\n\r\n"),
         accept=REJECT_OR_SERVED),
    case("Connection: close in a trailer does not close (RFC 9110 §6.5.1)",
         post(CHUNKED, body="5\r\nhello\r\n0\r\nConnection: close\r\n\r\n"), accept=SERVED),
    case("obs-fold in a trailer", post(CHUNKED, body="5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n")),
    case("NUL in a trailer value", post(CHUNKED, body="5\r\nhello\r\n0\r\nX: a\x00b\r\n\r\n")),

    # --- field syntax (RFC 9112 §5, RFC 9110 §5.5) ---------------------------------------------
    case("obs-fold continues a value with a space", get("/hello", "X: a", " b")),
    case("obs-fold continues a value with a tab", get("/hello", "X: a", "\tb")),
    case("obs-fold after an empty first line", get("/hello", "X:", " b")),
    case("whitespace line before the first header", "GET /hello HTTP/1.1\r\n X: y\r\nHost: t\r\n\r\n"),
    case("space before the colon", get("/hello", "X : y")),
    case("space before the colon of Host", "GET /hello HTTP/1.1\r\nHost : t\r\n\r\n"),
    case("space inside a header name", get("/hello", "X Y: z")),
    # A line that is no field may be refused or dropped (nginx's ignore_invalid_headers); no
    # framing depends on it. Whitespace around the name may not be dropped (RFC 9112 §5.1).
    case("separator in a header name", get("/hello", "X(y): z"), accept=REJECT_OR_SERVED),
    case("empty header name", get("/hello", ": z")),
    case("header line without a colon", get("/hello", "Xyz"), accept=REJECT_OR_SERVED),
    case("NUL in a header value", get("/hello", "X: a\x00b")),
    case("NUL in a header name", get("/hello", "X\x00: b")),
    case("DEL in a header name", get("/hello", "X\x7f: b")),
    case("non-ASCII in a header name", get("/hello", "X\xe9: b"), accept=REJECT_OR_SERVED),

    # --- request line (RFC 9112 §3) -------------------------------------------------------------
    case("HTTP/1.1 without Host", "GET /hello HTTP/1.1\r\n\r\n"),
    case("two Host headers", "GET /hello HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n"),
    case("Host with a space", "GET /hello HTTP/1.1\r\nHost: t u\r\n\r\n"),
    case("Host with a slash", "GET /hello HTTP/1.1\r\nHost: t/u\r\n\r\n"),
    case("space in the target", "GET /hel lo HTTP/1.1\r\nHost: t\r\n\r\n"),
    case("NUL in the target", "GET /hel\x00lo HTTP/1.1\r\nHost: t\r\n\r\n"),
    case("control byte in the target", "GET /hel\x01lo HTTP/1.1\r\nHost: t\r\n\r\n"),
    case("two spaces after the method", "GET  /hello HTTP/1.1\r\nHost: t\r\n\r\n",
         accept=REJECT_OR_SERVED),
    case("lower-case version", "GET /hello http/1.1\r\nHost: t\r\n\r\n"),
    case("version with spaces", "GET /hello HTTP/ 1.1\r\nHost: t\r\n\r\n"),
    case("HTTP/2.0 in an HTTP/1 request line", get(version="2.0"), accept=(answer(CLOSE, 400, 505),)),
    case("lower-case method", get(method="get"), accept=(answer(ANY, 400, 405, 501),)),
    case("unknown method", get("/index.html", method="FOO"), accept=(answer(ANY, 400, 405, 501),)),
    case("method split across reads", "PO", "G", "ET /index.html HTTP/1.1\r\nHost: t\r\n\r\n",
         accept=(answer(ANY, 400, 405, 501),)),
    case("TLS record on a plain port", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)),
         follow_up=False),

    # --- Content-Length (RFC 9112 §6.3) -------------------------------------------------------
    case("two equal Content-Length", post("Content-Length: 5", "Content-Length: 5", body="hello")),
    case("two different Content-Length", post("Content-Length: 5", "Content-Length: 6", body="hello!")),
    case("Content-Length list", post("Content-Length: 5, 5", body="hello")),
    case("Content-Length with a plus sign", post("Content-Length: +5", body="hello")),
    case("Content-Length negative", post("Content-Length: -5", body="hello")),
    case("Content-Length with a space inside", post("Content-Length: 1 0", body="helloworld")),
    case("Content-Length in hex", post("Content-Length: 0x5", body="hello")),
    case("Content-Length empty", post("Content-Length:", body="hello")),
    case("Content-Length overflows 64 bits", post("Content-Length: 99999999999999999999", body="hello"),
         accept=(answer(CLOSE, 400, 413),)),
    case("Content-Length with a vertical tab", post("Content-Length: \x0b5", body="hello")),

    # --- Transfer-Encoding (RFC 9112 §6.1) and the smuggling shapes ------------------------------
    case("CL.TE: Content-Length then Transfer-Encoding",
         post("Content-Length: 6", CHUNKED, body="0\r\n\r\nG"), accept=CL_TE),
    case("TE.CL: Transfer-Encoding then Content-Length",
         post(CHUNKED, "Content-Length: 4", body="5c\r\nGPOST / HTTP/1.1\r\nHost: t\r\nContent-Length: 15\r\n\r\n"
              "x=1\r\n0\r\n\r\n"), accept=CL_TE),
    case("Transfer-Encoding in HTTP/1.0", post(CHUNKED, version="1.0", host=False, body=BODY)),
    case("Transfer-Encoding in HTTP/1.0 with Content-Length",
         post("Content-Length: 5", CHUNKED, version="1.0", host=False, body=BODY)),
    case("Transfer-Encoding by obs-fold after an empty first line",
         post("Transfer-Encoding:", " chunked", body=BODY)),
    case("Transfer-Encoding by obs-fold", post("Transfer-Encoding: identity", " chunked", body=BODY)),
    case("Transfer-Encoding with a space before the colon", post("Transfer-Encoding : chunked", body=BODY)),
    case("Transfer-Encoding chunked twice", post(CHUNKED, CHUNKED, body=BODY), accept=(answer(CLOSE, 400, 501),)),
    case("Transfer-Encoding chunked, identity", post("Transfer-Encoding: chunked, identity", body=BODY),
         accept=(answer(CLOSE, 400, 501),)),
    case("Transfer-Encoding identity", post("Transfer-Encoding: identity", body=BODY),
         accept=(answer(CLOSE, 400, 501),)),
    case("Transfer-Encoding gzip", post("Transfer-Encoding: gzip", body=BODY), accept=(answer(CLOSE, 400, 501),)),
    case("Transfer-Encoding xchunked", post("Transfer-Encoding: xchunked", body=BODY),
         accept=(answer(CLOSE, 400, 501),)),
    case("Transfer-Encoding chunked with a vertical tab", post("Transfer-Encoding: \x0bchunked", body=BODY),
         accept=(answer(CLOSE, 400, 501),)),
    case("Transfer-Encoding and a second one with a junk value",
         post(CHUNKED, "Transfer-Encoding: x", body=BODY), accept=(answer(CLOSE, 400, 501),)),
    case("Transfer-Encoding empty", post("Transfer-Encoding:", body=BODY), accept=(answer(CLOSE, 400, 501),)),
    case("Transfer-Encoding with a NUL", post("Transfer-Encoding: chunked\x00", body=BODY),
         accept=(answer(CLOSE, 400, 501),)),

    # --- limits ------------------------------------------------------------------------------
    case("request target of 20 KiB", get("/" + "u" * 20480), accept=(answer(CLOSE, 414),)),
    case("header line of 20 KiB", get("/hello", "X-Big: " + "b" * 20480), accept=(answer(CLOSE, 400, 431),)),
    # Heads over both servers' limits: mempool's 16 KiB head, nginx's 4 buffers of 16 KiB.
    case("head of 80 KiB in 256 small headers", get("/hello", *BIG_HEAD), accept=(answer(CLOSE, 400, 431),)),
    case("head of 80 KiB in many reads",
         "GET /hello HTTP/1.1\r\nHost: t\r\n", *(line + "\r\n" for line in BIG_HEAD), "\r\n",
         pause=0.002, accept=(answer(CLOSE, 400, 431),)),
    case("head of 80 KiB pipelined after a small request", get() + get("/hello", *BIG_HEAD),
         accept=(answer(NEXT, 200, second=(400, 431)),)),
    # The body may be read and discarded (nginx) or the connection closed (no follow-up: it would
    # be read as body).
    case("declared body over the limit", post("Content-Length: 2000000"), follow_up=False,
         accept=(answer(ANY, 413),)),

    # --- connection level (RFC 9112 §9, RFC 9110 §7.6.1, §9.3.2) ----------------------------------
    case("Connection: keep-alive, close closes", get("/hello", "Connection: keep-alive, close"),
         accept=(answer(CLOSE, 200),)),
    case("HTTP/1.0 Connection: keep-alive, close closes",
         get("/hello", "Connection: keep-alive, close", version="1.0"), accept=(answer(CLOSE, 200),)),
    case("HEAD answer has no body", get("/index.html", method="HEAD"), head_responses=1, accept=SERVED),
    case("HEAD of a missing file has no body", get("/missing", method="HEAD"), head_responses=1,
         accept=(answer(NEXT, 404),)),
    case("HEAD refused has no body", get("/hello", "X: a\x00b", method="HEAD"), head_responses=1,
         accept=REJECT),
    # (the FIN often comes with the request, in one readiness event: a short read must not hide it)
    case("half-close after the request gets the answer and EOF", get(), follow_up=False, half_close=True,
         accept=(answer(CLOSE, 200),)),
    case("half-close after a split request gets the answer and EOF", "GET /hello HT", "TP/1.1\r\nHost: t\r\n\r\n",
         follow_up=False, half_close=True, accept=(answer(CLOSE, 200),)),
    case("413 while the body is still arriving: lingering close",
         post("Content-Length: 3000000"), *(b"b" * 65536 for _ in range(24)), follow_up=False, pause=0.005,
         half_close=True,
         accept=(answer(CLEAN, 413),)),
    case("400 mid-body while the body is still arriving: lingering close",
         post(CHUNKED, body="5\r\nhelloXX"), *(b"b" * 65536 for _ in range(24)), follow_up=False, pause=0.005,
         half_close=True,
         accept=(answer(CLEAN, 400),)),
]
