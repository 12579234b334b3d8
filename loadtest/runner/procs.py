"""Processes the runner starts, and what /proc says about them.

Every process is started through Processes.start(): in its own session (so its whole process
group can be ended by id), pinned to a CPU with taskset, told to die with the runner
(PR_SET_PDEATHSIG), and registered, so Processes.stop_all() -- run on every exit path, see
install_cleanup() -- leaves nothing behind. Loopback only: ports come from free_port().
"""
from __future__ import annotations

import atexit
import ctypes
import os
import resource
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # units of utime/stime in /proc/<pid>/stat
PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 5.0


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here, not between fork and exec


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM this child if the runner dies without cleaning up (SIGKILL, crash)."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Processes:
    """The registry of what the runner started; stop_all() ends each by its process group id."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen] = []

    def start(self, argv: list[str], *, cpu: int | None, log: Path | None = None,
              env: dict[str, str] | None = None, stdin=subprocess.DEVNULL,
              stdout=None, stderr=None) -> subprocess.Popen:
        """Starts argv pinned to cpu; stdout and stderr go to log (appended) unless given."""
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu), *argv]  # taskset execs: the pid is the program's
        sink = open(log, "ab") if log is not None else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout if stdout is not None else sink,
                                    stderr=stderr if stderr is not None else sink, env=env,
                                    start_new_session=True, preexec_fn=_die_with_parent)
        finally:
            if log is not None:
                sink.close()
        self._running.append(proc)
        return proc

    def run(self, argv: list[str], *, cpu: int | None, timeout: float,
            env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Runs argv to its end, killed after timeout seconds (TimeoutExpired is raised).
        Returns the exit code, stdout and stderr."""
        proc = self.start(argv, cpu=cpu, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc, signal.SIGKILL)
            raise
        if proc in self._running:
            self._running.remove(proc)
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        """Signals the process group, waits, then kills what is left of the group."""
        if proc in self._running:
            self._running.remove(proc)
        group = proc.pid  # start_new_session: the group id is the leader's pid
        _signal_group(group, sig)
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(group, signal.SIGKILL)  # forked workers outliving their master, if any
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass

    def stop_all(self) -> None:
        for proc in reversed(list(self._running)):
            self.stop(proc)


def _signal_group(group: int, sig: int) -> None:
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        pass


def install_cleanup(processes: Processes) -> None:
    """Stops every registered process at exit, and turns SIGINT/SIGTERM/SIGHUP into an exit."""
    atexit.register(processes.stop_all)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)


def raise_nofile_limit() -> int:
    """Raises the soft RLIMIT_NOFILE to the hard limit; children inherit it. Returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


# --- ports ------------------------------------------------------------------------------------

def free_port() -> int:
    """A loopback TCP port free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> bool:
    """True once something accepts on 127.0.0.1:port; False if proc exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


# --- /proc ------------------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def process_tree(root: int) -> list[int]:
    """root and its descendants that run the same program (same comm): nginx's master and
    workers; not helpers like h2o's perl backtrace annotator."""
    try:
        name = _comm(root)
    except OSError:
        return []
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(entry))[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            if _comm(pid) == name:
                tree.append(pid)
        except OSError:
            continue
        todo.extend(children.get(pid, []))
    return sorted(tree)


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # stat fields 14 and 15
    return ticks / CLOCK_TICKS


def _kib_fields(path: str, names: tuple[str, ...]) -> dict[str, int]:
    values = dict.fromkeys(names, 0)
    try:
        for line in Path(path).read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values


@dataclass
class Memory:
    """Memory of a set of processes, in KiB, each figure summed over the processes."""
    vm_rss: int            # /proc/<pid>/status VmRSS
    private_dirty: int     # /proc/<pid>/smaps_rollup Private_Dirty
    anonymous: int         # /proc/<pid>/smaps_rollup Anonymous (heap, anonymous mmaps, stacks)

    def minus(self, other: "Memory") -> "Memory":
        return Memory(self.vm_rss - other.vm_rss, self.private_dirty - other.private_dirty,
                      self.anonymous - other.anonymous)


def memory(pids: list[int]) -> Memory:
    total = Memory(0, 0, 0)
    for pid in pids:
        rss = _kib_fields(f"/proc/{pid}/status", ("VmRSS",))["VmRSS"]
        rollup = _kib_fields(f"/proc/{pid}/smaps_rollup", ("Private_Dirty", "Anonymous"))
        total = Memory(total.vm_rss + rss, total.private_dirty + rollup["Private_Dirty"],
                       total.anonymous + rollup["Anonymous"])
    return total
