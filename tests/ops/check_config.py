#!/usr/bin/python3
"""mempool-server --check-config (nginx -t, issue 12 item 4): a good file prints "config OK" and
exits 0 without listening; a bad one exits 2 with FILE:LINE:COLUMN and the message on stderr;
the flags are checked too.
Usage: check_config.py --mempool BUILD/bin/mempool-server
"""
from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def run(binary: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mempool", required=True)
    binary = parser.parse_args().mempool
    with tempfile.TemporaryDirectory(prefix="mempool-check-config-") as tmp:
        good = Path(tmp) / "good.toml"
        # A port that is taken: --check-config must not try to bind it.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            good.write_text(f'listen = "127.0.0.1:{port}"\n[admin]\nlisten = "127.0.0.1:{port}"\n')
            r = run(binary, "--check-config", "--config", str(good))
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        assert "config OK" in r.stdout and str(good) in r.stdout, r.stdout

        bad = Path(tmp) / "bad.toml"
        bad.write_text('reactors = 1\n[limits]\nmax_body_bytes = "lots"\n')
        r = run(binary, "--check-config", "--config", str(bad))
        assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
        assert f"{bad}:3:18: 'limits.max_body_bytes' must be a size" in r.stderr, r.stderr
        assert "config OK" not in r.stdout

        syntax = Path(tmp) / "syntax.toml"
        syntax.write_text('listen = "127.0.0.1:8080\n')
        r = run(binary, "--check-config", "--config", str(syntax))
        assert r.returncode == 2 and f"{syntax}:1:" in r.stderr, (r.returncode, r.stderr)

        r = run(binary, "--check-config", "--config", str(Path(tmp) / "missing.toml"))
        assert r.returncode == 2 and "missing.toml: cannot read config file" in r.stderr, r.stderr

        r = run(binary, "--check-config", "--config", str(good), "--reactors", "99999")
        assert r.returncode == 2 and "--reactors must be between" in r.stderr, r.stderr
    print("check-config: good file OK (exit 0), bad value, syntax error, missing file and bad flag: exit 2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
