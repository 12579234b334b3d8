#!/usr/bin/python3
"""The open-file limit at start (issue 10 item 4), against the real mempool-server binary run
under a low RLIMIT_NOFILE set in the child before exec:
  raised   soft 32, hard 64: the server raises the soft limit to 64 and warns, naming the limit
           and what the config may hold open (max_connections + open-file caches + listeners).
  enough   a config that fits the raised limit starts without that warning.
  refused  soft = hard = 5: not even the listeners fit (3 descriptors are stdio): exit 1 with
           the numbers.
Usage: descriptor_limit.py --mempool BUILD/bin/mempool-server
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mempool_process import Mempool, free_port  # noqa: E402

# 2 reactors serving static files: 2 open-file caches of 1000 entries each; the public listener
# on each reactor and the admin listener: 3 listeners.
CONFIG = """listen = "127.0.0.1:{port}"
reactors = 2
root = "{dir}"
[limits]
max_connections = {max_connections}
[admin]
listen = "127.0.0.1:{admin}"
"""


def nofile(soft: int, hard: int):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def start(binary: str, tmp: str, max_connections: int, soft: int, hard: int) -> str:
    server = Mempool(Path(binary), Path(tmp))
    try:
        server.start(CONFIG.replace("{max_connections}", str(max_connections)), preexec_fn=nofile(soft, hard))
        status, _ = server.get("/", timeout=10)
        assert status in (200, 403, 404), status
    finally:
        assert server.stop() == 0, server.log_text()
    return server.log_text()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mempool", required=True)
    binary = parser.parse_args().mempool

    with tempfile.TemporaryDirectory(prefix="mempool-nofile-") as tmp:
        log = start(binary, tmp, 10000, 32, 64)
        expected = ("open-file limit is 64 (raised from 32; hard limit 64), below the 12003 descriptors "
                    "the config may hold open: max_connections 10000 + open-file caches 2 x 1000 + 3 listeners")
        assert expected in log, log
        assert "warning" in log, log

    with tempfile.TemporaryDirectory(prefix="mempool-nofile-") as tmp:
        log = start(binary, tmp, 100, 32, 4096)  # needs 100 + 2 x 1000 + 3
        assert "open-file limit" not in log, log

    with tempfile.TemporaryDirectory(prefix="mempool-nofile-") as tmp:
        config = Path(tmp) / "server.toml"
        config.write_text(f'listen = "127.0.0.1:{free_port()}"\nreactors = 2\n'
                          f'[admin]\nlisten = "127.0.0.1:{free_port()}"\n')
        r = subprocess.run([binary, "--config", str(config)], capture_output=True, text=True, timeout=30,
                           preexec_fn=nofile(5, 5))
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        assert "open-file limit is 5 (hard limit 5), too low for even the 3 listeners" in r.stderr, r.stderr
    print("descriptor limit: soft 32 raised to hard 64 with a warning naming 12003 = 10000 + 2 x 1000 + 3; "
          "a limit that fits: no warning; hard limit 5: exit 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
