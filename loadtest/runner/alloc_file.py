"""The counter file of tools/alloc_counter.c, read from Python (layout: tools/alloc_counter.h).

The file is MAP_SHARED by every counted process, so plain reads of it see their counts live.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

HEADER = struct.Struct("<8sII")        # magic, version, slots
SLOTS = 16                             # ALLOC_COUNTER_SLOTS
COUNTS = struct.Struct(f"<{SLOTS}Q")
TRACE_BUDGET = struct.Struct("<Q")
TRACE_OFFSET = HEADER.size + COUNTS.size
FILE_SIZE = TRACE_OFFSET + TRACE_BUDGET.size
MAGIC = b"ALLOCCNT"
VERSION = 1

# In the order of enum alloc_counter_index.
NAMES = ("malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc", "memalign", "valloc", "bytes")
ALLOCATING = ("malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign", "valloc")


@dataclass
class Counts:
    values: dict[str, int]

    @property
    def allocations(self) -> int:
        """Calls that hand out memory; realloc included (it may move the block)."""
        return sum(self.values[n] for n in ALLOCATING)

    @property
    def frees(self) -> int:
        return self.values["free"]

    def minus(self, other: "Counts") -> "Counts":
        return Counts({n: self.values[n] - other.values[n] for n in NAMES})


class CounterFileError(RuntimeError):
    pass


class CounterFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def snapshot(self) -> Counts:
        data = self.path.read_bytes()
        if len(data) < FILE_SIZE:
            raise CounterFileError(f"{self.path}: no counter file: was the server started with the preload?")
        magic, version, _slots = HEADER.unpack_from(data)
        if magic != MAGIC or version != VERSION:
            raise CounterFileError(f"{self.path}: not a version {VERSION} counter file")
        values = COUNTS.unpack_from(data, HEADER.size)
        return Counts(dict(zip(NAMES, values)))

    def request_traces(self, n: int) -> None:
        """The next n allocations (any process of the server) each write a backtrace."""
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, TRACE_BUDGET.pack(n), TRACE_OFFSET)
        finally:
            os.close(fd)
