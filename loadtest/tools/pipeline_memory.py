#!/usr/bin/python3
"""What one pipelining client costs a server, measured from outside (issue 10, bounded memory).

  pipeline_memory.py --port PORT --pid PID [--requests 990] [--body 1m] [--alloc-file FILE]

Sends REQUESTS chunked POST /echo requests of BODY bytes each on one connection, as fast as the
server takes them (a writer thread), while a reader thread consumes the answers, and samples the
server's resident set (/proc/PID/status VmRSS) every 5 ms. Prints the RSS before, the peak, the
growth at peak, and, when the server runs with loadtest/tools/alloc_counter.c preloaded
(ALLOC_COUNTER_FILE=FILE), its heap calls per request during the run. Exit 1 if an answer is
missing or not 200.
"""
from __future__ import annotations

import argparse
import socket
import struct
import sys
import threading
import time
from pathlib import Path

COUNTERS = 9  # alloc_counter.h: malloc, calloc, realloc, free, posix_memalign, aligned_alloc, memalign, valloc, bytes


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def heap_calls(path: str | None) -> int:
    if not path:
        return 0
    counts = struct.unpack_from(f"<{COUNTERS}Q", Path(path).read_bytes())
    return sum(counts[i] for i in (0, 1, 2, 4, 5, 6, 7))  # every allocating call


def size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20}
    return int(text[:-1]) * units[text[-1].lower()] if text[-1].lower() in units else int(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--requests", type=int, default=990)
    ap.add_argument("--body", type=size, default=1 << 20)
    ap.add_argument("--chunk", type=size, default=64 << 10)
    ap.add_argument("--alloc-file")
    args = ap.parse_args()

    chunk = b"%x\r\n" % args.chunk + b"c" * args.chunk + b"\r\n"
    body = chunk * (args.body // args.chunk) + b"0\r\n\r\n"
    request = (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Type: application/octet-stream\r\n\r\n" + body)

    sock = socket.create_connection(("127.0.0.1", args.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    before = rss_kib(args.pid)
    calls_before = heap_calls(args.alloc_file)
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kib(args.pid))
            time.sleep(0.005)

    def write() -> None:
        for _ in range(args.requests):
            sock.sendall(request)

    sampler = threading.Thread(target=sample, daemon=True)
    writer = threading.Thread(target=write, daemon=True)
    sampler.start()
    writer.start()
    answers, ok, pending = 0, 0, b""
    expected = args.body
    sock.settimeout(30)
    while answers < args.requests:
        data = sock.recv(1 << 20)
        if not data:
            break
        pending += data
        while True:  # whole answers: a head with Content-Length, then that many bytes
            end = pending.find(b"\r\n\r\n")
            if end < 0:
                break
            head = pending[:end].decode("latin-1")
            length = next((int(line.split(":", 1)[1]) for line in head.split("\r\n")
                           if line.lower().startswith("content-length:")), 0)
            if len(pending) < end + 4 + length:
                break
            answers += 1
            ok += head.startswith("HTTP/1.1 200") and length == expected
            pending = pending[end + 4 + length:]
    writer.join(timeout=5)
    done.set()
    sampler.join()
    calls = heap_calls(args.alloc_file) - calls_before
    print(f"requests {args.requests} x chunked {args.body} B: answers {answers}, 200 with the body {ok}")
    print(f"RSS before {before} KiB, peak {peak} KiB, growth at peak {(peak - before) / 1024:.1f} MiB")
    if args.alloc_file:
        print(f"heap calls {calls}, per request {calls / max(answers, 1):.2f}")
    return 0 if ok == args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
