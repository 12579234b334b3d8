#!/usr/bin/python3
"""Writes the seed corpora of the HTTP fuzz targets (tests/fuzz/corpus/<target>/), in the input
layouts their harnesses read (tests/model/*_model.hpp):
  request_parser       every raw conformance case (tests/conformance/raw_cases.py: the smuggling
                       shapes), cut where the case cuts it; a head across the limit; generated-mode
                       inputs
  path_resolution      traversal shapes: dot-dot in every spelling, encoded slashes, backslashes,
                       NUL, symlinks out of the root; generated-mode inputs
  request_conditions   Range, If-None-Match and date shapes; generated-mode inputs for each parser
  config               the shipped config/server.toml and broken ones (syntax, types, ranges, the
                       cross-checked limits); generated-mode inputs
Run it again after changing raw_cases.py. What libFuzzer finds is merged by hand (scripts/fuzz.sh).

  tests/fuzz/make_corpus.py
"""
from __future__ import annotations

import random
import re
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(HERE.parent / "conformance"))
import raw_cases  # noqa: E402

CORPUS = HERE / "corpus"
MAX_SEED_BYTES = 4096  # the 80 KiB heads and the lingering-close bodies stay out
rng = random.Random(20240611)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


def write(target: str, seeds: dict[str, bytes]) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.name.startswith(("raw-", "generated-")):
            old.unlink()
    for name, data in seeds.items():
        (folder / name).write_bytes(data)
    print(f"{len(seeds)} seeds in {folder}")


def generated(count: int, mode_of) -> dict[str, bytes]:
    """Inputs of a harness's generated mode: a mode byte, then random choices."""
    return {f"generated-{i}": bytes([mode_of(i)]) + rng.randbytes(300) for i in range(count)}


def parser_seed(limits: int, pieces: list[bytes]) -> bytes:
    """request_parser_model.hpp, raw mode: mode byte, cut count (u32), cuts (u16 each), stream."""
    cuts, at = [], 0
    for piece in pieces[:-1][:7]:
        at += len(piece)
        cuts.append(at & 0xFFFF)
    return bytes([1 | limits << 1]) + u32(len(cuts)) + b"".join(struct.pack("<H", c) for c in cuts) + b"".join(pieces)


def request_parser() -> dict[str, bytes]:
    roomy, small = 2, 1  # the harness's limits_from(): 8 KiB head; the unit tests' 512 bytes
    seeds = {f"raw-{slug(c.name)}": parser_seed(roomy, c.wire()) for c in raw_cases.CASES
             if sum(map(len, c.wire())) <= MAX_SEED_BYTES}
    head = b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"x" * 480 + b"\r\n\r\n"
    seeds["raw-head-across-the-limit"] = parser_seed(small, [head[:300], head[300:]])
    seeds.update(generated(8, lambda i: rng.randrange(128) * 2))  # even: generated
    return seeds


TRAVERSALS = [
    "/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/.%2E/x", "/..%2f..%2fetc/passwd", "/a/..%5c..%5cx",
    "\\..\\..\\x", "/dir/up2/outside/secret.txt", "/out/secret.txt", "/outfile", "/abs/passwd", "/in/b.txt",
    "/dir/sub/home", "/loop", "/chain1", "/self/self/self/a.txt", "/dir/up/dir/up/a.txt", "/%00", "/a.txt%00.html",
    "/%2541.txt", "/%41.txt", "/sp%20ace.txt", "/dir/", "/dir/./sub/../c.txt", "//a.txt", "/%c3%a9", "/%", "/%zz",
    "/" + "a/" * 40, "/" + "x" * 300,
]


def path_resolution() -> dict[str, bytes]:
    seeds = {f"raw-{slug(p) or 'root'}-{i}": b"\x01" + p.encode("latin-1") for i, p in enumerate(TRAVERSALS)}
    seeds.update(generated(6, lambda i: 0))
    return seeds


def request_conditions() -> dict[str, bytes]:
    size_1000 = b"\x01" + u32(999)  # range_model: flag (small file), then size - 1
    ranges = ["bytes=0-99", "bytes=-100", "bytes=500-", "bytes=0-0,5-9", "bytes=5-1", "bytes=1000-", "bytes=-0",
              "BYTES = 1-2", "bytes=99999999999999999999999-", "bytes=,,1-2,,", "items=0-1"]
    seeds = {f"raw-range-{slug(r)}": b"\x04" + size_1000 + r.encode() for r in ranges}
    lists = ['"5f3a-2a"', 'W/"5f3a-2a"', '"x", "5f3a-2a"', '*', '"a,b", W/"5f3a-2a"', 'abc, "5f3a-2a"', '"5f3a-2a']
    seeds.update({f"raw-inm-{i}": b"\x05" + v.encode() for i, v in enumerate(lists)})
    dates = ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
             "Sun, 06 Nov 1994 08:49:60 GMT", "Tue, 29 Feb 2000 00:00:00 GMT", "Sat, 30 Feb 2002 00:00:00 GMT",
             "Fri, 31 Dec 9999 23:59:59 GMT", "sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC"]
    seeds.update({f"raw-date-{i}": b"\x06" + d.encode() for i, d in enumerate(dates)})
    seeds.update(generated(12, lambda i: i % 4))
    return seeds


CONFIG_TEXTS = {
    "unterminated-string": 'listen = "127.0.0.1:8080\n',
    "duplicate-key": "reactors = 1\nreactors = 2\n",
    "unknown-key": "[limits]\nmax_bodies = 1\n",
    "wrong-type": "[timeouts]\nidle = true\n",
    "size-out-of-range": '[limits]\nmax_body_bytes = "2048g"\n',
    "bad-duration": '[timeouts]\nlinger = "5 s"\n',
    "header-buffer-over-limit": '[limits]\nheader_buffer = "32k"\n',
    "budget-below-request-pool": '[limits]\nconnection_memory = "1m"\n',
    "inline-and-dotted": 'limits = { max_body_bytes = "2m" }\ntimeouts.idle = "5s"\n',
    "routes": '[routes]\n"/a/" = "static"\n"/b" = "nothing"\n',
    "nul-in-value": 'server_name = "a\\u0000b"\n',
    "invalid-utf8": b"server_name = \"\xff\xfe\"\n".decode("latin-1"),
}


def config() -> dict[str, bytes]:
    shipped = (HERE.parent.parent / "config" / "server.toml").read_bytes()
    seeds = {"raw-shipped-server-toml": b"\x01" + shipped}
    seeds.update({f"raw-{name}": b"\x01" + text.encode("latin-1") for name, text in CONFIG_TEXTS.items()})
    seeds.update(generated(8, lambda i: 0))
    return seeds


def main() -> None:
    write("request_parser", request_parser())
    write("path_resolution", path_resolution())
    write("request_conditions", request_conditions())
    write("config", config())


if __name__ == "__main__":
    main()
