#!/usr/bin/python3
"""The live dashboard in a real browser (issue 12 item 2): Debian's chromium, headless, driven by
chromedriver through python3-selenium, opens /dashboard on the admin listener of a real
mempool-server, sends traffic to the public port, and checks that
  - the figures (data-metric="<name>", the total; "<name>.reactor<N>", each reactor's) are numbers
    and move: requests grows by what was sent, requests/s goes above 0;
  - every chart has points, one per poll;
  - the browser logged no JavaScript error;
then saves a screenshot (its path is printed). A second run without the Chart.js file shows the
figures all the same, and with worker processes (workers = 2) each worker's reactors and restarts.
Usage: dashboard_browser.py --mempool BUILD/bin/mempool-server --screenshot FILE.png
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mempool_process import Mempool, kept_alive_get, wait_for  # noqa: E402

CONFIG = """listen = "127.0.0.1:{port}"
reactors = 2
log_level = "warn"
[admin]
listen = "127.0.0.1:{admin}"
"""
TRAFFIC_S = 4.0


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1300", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def figures(driver, *names: str) -> list[float | None]:
    """The named figures as the page shows them at one moment: one script, so no poll of the page
    lands between two of them (a busy machine stretches the time between two WebDriver calls)."""
    texts = driver.execute_script(
        "return arguments[0].map(n => { const e = document.querySelector(`[data-metric=\"${n}\"]`);"
        " return e ? e.textContent.trim() : null; })", list(names))
    values = []
    for text in texts:
        try:
            values.append(float(text))
        except (TypeError, ValueError):
            values.append(None)
    return values


def figure(driver, name: str) -> float | None:
    return figures(driver, name)[0]


def traffic(server: Mempool, stop: threading.Event, sent: list[int]) -> None:
    conn = server.connection()
    while not stop.is_set():
        status, _ = kept_alive_get(conn, "/hello")
        assert status == 200
        sent[0] += 1
    conn.close()


def severe(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def check_live(driver, server: Mempool, screenshot: Path) -> None:
    driver.get(f"http://127.0.0.1:{server.admin}/dashboard")
    wait_for("the first figures", lambda: figure(driver, "requests") is not None, timeout=15)
    assert driver.execute_script("return typeof Chart") == "function", "Chart.js did not load"
    before = figure(driver, "requests")
    stop, sent = threading.Event(), [0]
    workers = [threading.Thread(target=traffic, args=(server, stop, sent)) for _ in range(4)]
    for w in workers:
        w.start()
    rates = []
    deadline = time.monotonic() + TRAFFIC_S
    while time.monotonic() < deadline:
        rates.append(figure(driver, "requests_per_second") or 0)
        time.sleep(0.25)
    stop.set()
    for w in workers:
        w.join()
    wait_for("the requests figure to count the traffic",
             lambda: figure(driver, "requests") >= before + sent[0], timeout=15)
    assert max(rates) > 0, f"requests/s never moved: {rates}"
    assert figure(driver, "connections_open") is not None
    for name in ("block_in_use_bytes", "pools_idle", "ring_used_bytes", "connection_slots_in_use",
                 "open_files", "allocation_failures"):
        assert figure(driver, name) is not None, f"{name} is not a number"
    total, *per_reactor = figures(driver, "requests", "requests.reactor0", "requests.reactor1")
    assert None not in per_reactor and sum(per_reactor) == total, (total, per_reactor)

    def chart_points():
        return driver.execute_script(
            "return Object.values(window.mempoolDashboard.charts).map(c => c.data.datasets.map(d => d.data.length))")
    wait_for("three points in every chart", lambda: all(n >= 3 for chart in chart_points() for n in chart),
             timeout=15)
    points = chart_points()
    assert len(points) == 8, points
    assert all(n >= 3 for chart in points for n in chart), f"charts without points: {points}"
    errors = severe(driver)
    assert not errors, f"JavaScript console errors: {errors}"
    driver.save_screenshot(str(screenshot))
    print(f"dashboard: {sent[0]} requests sent, requests/s peaked at {max(rates):.0f}, "
          f"points per chart {[c[0] for c in points]}, no console error")
    print(f"dashboard: screenshot {screenshot}")


def check_without_charts(driver, server: Mempool) -> None:
    """The server runs 2 worker processes: their reactors and restarts are shown too."""
    driver.get(f"http://127.0.0.1:{server.admin}/dashboard")
    wait_for("figures without Chart.js", lambda: figure(driver, "requests") is not None, timeout=15)
    assert driver.execute_script("return typeof Chart") == "undefined"
    assert driver.find_element(By.ID, "nocharts").is_displayed()
    total, *per_worker = figures(driver, "requests", "requests.worker1.reactor0", "requests.worker2.reactor0")
    assert None not in per_worker and sum(per_worker) == total, (total, per_worker)
    assert figures(driver, "worker_restarts", "worker_restarts.worker1", "worker_restarts.worker2") == [0, 0, 0]
    errors = [e for e in severe(driver) if "chart.js" not in e]  # the script's own 404 is expected
    assert not errors, f"JavaScript console errors: {errors}"
    print("dashboard: without Chart.js the figures are shown")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mempool", required=True)
    parser.add_argument("--screenshot", required=True)
    args = parser.parse_args()
    screenshot = Path(args.screenshot).resolve()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mempool-dashboard-") as tmp:
        driver = browser()
        servers = []
        try:
            live = Mempool(Path(args.mempool), Path(tmp))
            servers.append(live)
            check_live(driver, live.start(CONFIG), screenshot)
            bare_dir = Path(tmp) / "bare"
            bare_dir.mkdir()
            bare = Mempool(Path(args.mempool), bare_dir)
            servers.append(bare)
            workers = CONFIG.replace("reactors = 2", "reactors = 1\nworkers = 2")
            check_without_charts(driver, bare.start(workers + 'chart_js = "/nonexistent/chart.min.js"\n'))
        finally:
            driver.quit()
            for s in servers:
                assert s.stop() == 0, s.log_text()
    return 0


if __name__ == "__main__":
    sys.exit(main())
