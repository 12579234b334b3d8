"""One run of the runner: where the binaries are, and the results folder it writes into."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .procs import Processes


@dataclass
class Context:
    repo: Path                # the source tree
    build: Path               # the Release build (build/release)
    run_dir: Path             # results/<timestamp>-<mode>: everything this run writes
    processes: Processes
    nofile: int               # the soft RLIMIT_NOFILE every child inherits
    portable_build: Path | None = None  # a second Release build (-DMEMPOOL_PORTABLE_WAIT=ON)

    @property
    def www(self) -> Path:
        return self.run_dir / "www"

    @property
    def conf(self) -> Path:
        return self.run_dir / "conf"

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    @property
    def wrk_script(self) -> Path:
        return self.repo / "loadtest" / "wrk" / "scenario.lua"

    def tool(self, name: str) -> Path:
        """A binary of loadtest/CMakeLists.txt (alloc counter, idle tool...)."""
        return self.build / "loadtest" / name

    @property
    def mempool_server(self) -> Path:
        return self.build / "server" / "mempool-server"

    @property
    def portable_server(self) -> Path:
        """mempool-server of the second build (the mempool-portable server)."""
        return (self.portable_build or self.build.parent / "release-portable") / "server" / "mempool-server"


def make_run_dir(results: Path, mode: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = results / f"{stamp}-{mode}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = results / f"{stamp}-{mode}-{suffix}"
    for sub in ("", "www", "conf", "logs"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
        (run_dir / sub).chmod(0o755)  # nginx and h2o workers run as nobody and read www
    return run_dir
