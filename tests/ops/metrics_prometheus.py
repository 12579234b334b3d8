#!/usr/bin/python3
"""GET /metrics on the admin listener, read by a real Prometheus parser (Debian's
python3-prometheus-client: prometheus_client.parser.text_string_to_metric_families), and checked
family by family against Prometheus' conventions (issue 12 item 3):
  - every family has # HELP and # TYPE (counter, gauge or histogram), once;
  - a counter's samples end in _total; a name with a unit ends in it (_bytes, _seconds);
  - per-reactor samples carry reactor="N"; responses carry class="2xx" as a label, not in the name;
  - the request latency histogram: le buckets ascending and cumulative, +Inf == _count, and
    _count grows by the requests sent.
Usage: metrics_prometheus.py --mempool BUILD/bin/mempool-server
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mempool_process import Mempool  # noqa: E402

CONFIG = """listen = "127.0.0.1:{port}"
reactors = 2
log_level = "warn"
[admin]
listen = "127.0.0.1:{admin}"
"""
REQUESTS = 40
UNITS = ("bytes", "seconds")


def families(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        assert family.name not in found, f"family {family.name} appears twice"
        found[family.name] = family
    return found


def check_conventions(text: str, fams: dict) -> None:
    help_lines = [line for line in text.splitlines() if line.startswith("# HELP ")]
    type_lines = [line for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(help_lines) == len(type_lines) == len(fams), (len(help_lines), len(type_lines), len(fams))
    for name, f in fams.items():
        assert name.startswith("mempool_"), name
        assert f.documentation.strip(), f"{name}: no # HELP text"
        assert f.type in ("counter", "gauge", "histogram"), f"{name}: type {f.type}"
        assert f.samples, f"{name}: no samples"
        for s in f.samples:
            if f.type == "counter":
                assert s.name == name + "_total", f"counter sample {s.name} does not end in _total"
            if "bytes" in name.split("_") or "seconds" in name.split("_"):
                unit = "bytes" if "bytes" in name.split("_") else "seconds"
                assert name.endswith("_" + unit), f"{name}: the unit must end the name"
            if s.name.startswith("mempool_server_reactors") or name.startswith(("mempool_global_arena",
                                                                                 "mempool_shared_arena")):
                assert "reactor" not in s.labels, f"{s.name}: a process-wide figure has a reactor label"
            else:
                assert s.labels.get("reactor") in ("0", "1"), f"{s.name}: labels {s.labels}"
            assert s.value >= 0, f"{s.name} is negative"


def histogram_count(fams: dict) -> dict:
    """reactor -> (buckets [(le, count)], sum, count) of the latency histogram, checked."""
    f = fams["mempool_server_request_duration_seconds"]
    assert f.type == "histogram"
    per = {}
    for s in f.samples:
        r = per.setdefault(s.labels["reactor"], {"buckets": [], "sum": None, "count": None})
        if s.name.endswith("_bucket"):
            r["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_sum"):
            r["sum"] = s.value
        elif s.name.endswith("_count"):
            r["count"] = s.value
    for reactor, r in per.items():
        les = [le for le, _ in r["buckets"]]
        counts = [c for _, c in r["buckets"]]
        assert les == sorted(les) and les[-1] == float("inf"), f"reactor {reactor}: le {les}"
        assert counts == sorted(counts), f"reactor {reactor}: buckets not cumulative {counts}"
        assert counts[-1] == r["count"], f"reactor {reactor}: +Inf {counts[-1]} != count {r['count']}"
        assert r["sum"] is not None and r["sum"] >= 0
    return {reactor: r["count"] for reactor, r in per.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mempool", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mempool-metrics-") as tmp:
        server = Mempool(Path(args.mempool), Path(tmp))
        server.start(CONFIG)
        try:
            status, body = server.get("/metrics", admin=True)
            assert status == 200, status
            before = families(body.decode())
            check_conventions(body.decode(), before)
            count_before = sum(histogram_count(before).values())
            for _ in range(REQUESTS):
                assert server.get("/hello")[0] == 200
            assert server.get("/nothing-here")[0] == 404

            time.sleep(1.2)  # every reactor has published its figures since
            status, body = server.get("/metrics", admin=True)
            text = body.decode()
            after = families(text)
            check_conventions(text, after)
            assert set(after) == set(before), set(after) ^ set(before)
            for wanted, kind in (("mempool_server_requests", "counter"), ("mempool_server_connections_open", "gauge"),
                                 ("mempool_block_allocator_in_use_bytes", "gauge"),
                                 ("mempool_pool_manager_outstanding", "gauge"),
                                 ("mempool_ring_buffer_capacity_bytes", "gauge"),
                                 ("mempool_server_responses", "counter")):
                assert after[wanted].type == kind, (wanted, after[wanted].type)
            classes = {s.labels["class"]: s.value for s in after["mempool_server_responses"].samples
                       if s.labels["reactor"] == "0"}
            assert set(classes) == {"1xx", "2xx", "3xx", "4xx", "5xx"}, classes
            twoxx = sum(s.value for s in after["mempool_server_responses"].samples if s.labels["class"] == "2xx")
            fourxx = sum(s.value for s in after["mempool_server_responses"].samples if s.labels["class"] == "4xx")
            assert twoxx >= REQUESTS and fourxx >= 1, (twoxx, fourxx)
            # The histogram counts each response once it is written (the reactors publish every second;
            # the answering reactor's figures are live).
            count_after = sum(histogram_count(after).values())
            assert count_after - count_before >= REQUESTS, (count_before, count_after)
            print(f"metrics: {len(after)} families parsed, every one with HELP and TYPE; "
                  f"latency histogram count {count_before} -> {count_after}")
        finally:
            code = server.stop()
        assert code == 0, f"exit status {code}:\n{server.log_text()}"
    return 0


if __name__ == "__main__":
    sys.exit(main())
