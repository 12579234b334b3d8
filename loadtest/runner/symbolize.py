"""Turns the counter's backtraces (glibc backtrace_symbols_fd lines) into function names, and
groups identical stacks: "12 x malloc 64 bytes: f <- g <- h".

A frame looks like "/path/binary(+0x1a2b) [0x55...]" (no exported symbol: addr2line finds the
function from the binary's symbol table) or "/path/lib.so(symbol+0x1c) [0x7f...]" (c++filt).
"""
from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<file>[^(\[]*)\((?P<sym>[^)]*)\)\s*\[(?P<addr>0x[0-9a-fA-F]+)\]$")
HEADER = re.compile(r"^--- (?P<fn>\S+) (?P<bytes>\d+) bytes")
SKIP_FILES = ("liballoc_counter.so",)
TOOL_TIMEOUT_SECONDS = 60


def parse(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(header "malloc 64 bytes", [(file, sym-or-offset), ...]), ...], innermost frame first."""
    traces = []
    for line in text.splitlines():
        header = HEADER.match(line)
        if header:
            traces.append((f"{header['fn']} {header['bytes']} bytes", []))
            continue
        frame = FRAME.match(line.strip())
        if frame and traces and not frame["file"].endswith(SKIP_FILES):
            traces[-1][1].append((frame["file"], frame["sym"]))
    return traces


def _addr2line(binary: str, offsets: list[str]) -> dict[str, str]:
    """offset ("+0x1a2b") -> function name, looked up one address before the return address."""
    addresses = [hex(int(o.lstrip("+"), 16) - 1) for o in offsets]
    try:
        out = subprocess.run(["addr2line", "-C", "-f", "-e", binary, *addresses], capture_output=True, text=True,
                             timeout=TOOL_TIMEOUT_SECONDS).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {o: out[2 * i] for i, o in enumerate(offsets) if 2 * i < len(out) and out[2 * i] != "??"}


def _demangle(symbols: list[str]) -> dict[str, str]:
    try:
        out = subprocess.run(["c++filt"], input="\n".join(symbols), capture_output=True, text=True,
                             timeout=TOOL_TIMEOUT_SECONDS).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(zip(symbols, out))


def _short(name: str) -> str:
    """Drops argument lists and template arguments so a stack fits on a line."""
    depth, out = 0, []
    for ch in name:
        if ch in "(<":
            depth += 1
        if depth == 0:
            out.append(ch)
        if ch in ")>":
            depth = max(0, depth - 1)
    return "".join(out) or name


def symbolize(traces) -> list[tuple[str, list[str]]]:
    offsets: dict[str, set[str]] = {}
    symbols: set[str] = set()
    for _, frames in traces:
        for file, sym in frames:
            if sym.startswith("+"):
                offsets.setdefault(file, set()).add(sym)
            elif sym:
                symbols.add(sym.split("+")[0])
    by_offset = {(f, o): n for f, offs in offsets.items() for o, n in _addr2line(f, sorted(offs)).items()}
    demangled = _demangle(sorted(symbols)) if symbols else {}
    named = []
    for header, frames in traces:
        names = []
        for file, sym in frames:
            where = Path(file).name
            if sym.startswith("+"):
                names.append(f"{_short(by_offset.get((file, sym), sym))} [{where}]")
            elif sym:
                base = sym.split("+")[0]
                names.append(f"{_short(demangled.get(base, base))} [{where}]")
            else:
                names.append(f"? [{where}]")
        named.append((header, names))
    return named


def group(named, depth: int = 12) -> list[tuple[int, str, list[str]]]:
    """Identical stacks (first `depth` frames) counted, most frequent first."""
    counter = Counter((header, tuple(frames[:depth])) for header, frames in named)
    return [(n, header, list(frames)) for (header, frames), n in counter.most_common()]


def report(text: str, depth: int = 12) -> str:
    lines = []
    for n, header, frames in group(symbolize(parse(text)), depth):
        lines.append(f"{n} x {header}:")
        lines += [f"    {frame}" for frame in frames]
    return "\n".join(lines)
