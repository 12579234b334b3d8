// The dashboard page (builtin.hpp): one self-contained page, no network fetch but its own
// server's /stats and /dashboard/chart.js (Debian's libjs-chart.js, served by chart_js()). It
// polls /stats each second and keeps 5 minutes of points; each live figure carries
// data-metric="<name>" (the total) and data-metric="<name>.reactor<N>" (one reactor's; in
// master/worker mode "<name>.worker<W>.reactor<N>") whose text is its current value, and the
// workers' restarts data-metric="worker_restarts" (the total) and "worker_restarts.worker<W>".
// Without Chart.js it still shows the figures.
#include <mempool/http/builtin.hpp>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <system_error>

namespace mempool::http {

namespace {

constexpr std::string_view page = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mempool dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<script src="/dashboard/chart.js"></script>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #222; background: #fafafa; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .sub { color: #666; margin-bottom: 12px; }
  .figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 8px; margin-bottom: 16px; }
  .figure { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; }
  .figure .label { color: #666; font-size: 12px; }
  .figure .value { font-size: 20px; font-variant-numeric: tabular-nums; }
  .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; }
  .chart { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; height: 220px; }
  .chart h2 { font-size: 13px; margin: 0 0 4px; font-weight: 600; }
  .chart .box { position: relative; height: 185px; }
  table { border-collapse: collapse; background: #fff; margin: 16px 0; font-variant-numeric: tabular-nums; }
  th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  #status.error { color: #b00; }
  #nocharts { display: none; color: #a60; }
</style>
</head>
<body>
<h1>mempool-server</h1>
<div class="sub">Every allocator's figures, polled from <code>/stats</code> each second, kept for the last 5 minutes.
  <span id="status">connecting…</span> <span id="nocharts">(Chart.js not available: figures only)</span></div>
<div class="figures" id="figures"></div>
<div class="charts" id="charts"></div>
<table id="reactors"><thead></thead><tbody></tbody></table>
<table id="workers"><thead></thead><tbody></tbody></table>
<script>
"use strict";
(function () {
  const POLL_MS = 1000, KEEP = 300;  // 5 minutes of one-second points
  // name, label, how to read it from one reactor's figures (r) and the previous poll (p, seconds dt)
  const FIGURES = [
    ["requests", "requests", r => r.server.requests],
    ["requests_per_second", "requests/s", (r, p, dt) => p ? Math.max(0, (r.server.requests - p.server.requests) / dt) : 0],
    ["connections_open", "open connections", r => r.server.connections_open],
    ["block_in_use_bytes", "block allocator in use (bytes)", r => r.block_allocator.in_use_bytes],
    ["block_free_bytes", "block allocator free (bytes)", r => r.block_allocator.free_bytes],
    ["pools_idle", "pools idle", r => r.pool_manager.idle],
    ["pools_outstanding", "pools outstanding", r => r.pool_manager.outstanding],
    ["ring_used_bytes", "ring buffer in use (bytes)", r => r.ring_buffer.used_bytes],
    ["ring_fallbacks", "ring fallbacks to a pool", r => r.server.ring_fallbacks],
    ["connection_slots_in_use", "connection slots in use", r => r.connection_slots.in_use],
    ["handler_slots_in_use", "handler memory slots in use", r => r.handler_memory.in_use + r.handler_memory_large.in_use],
    ["open_files", "open-file cache entries", r => r.open_files.entries],
    ["open_file_fds", "open-file cache descriptors", r => r.open_files.open_fds],
    ["allocation_failures", "allocation failures", r => r.block_allocator.os_failures + r.ring_buffer.failed_full +
        r.ring_buffer.failed_fragmented + r.ring_buffer.failed_oversize + r.connection_slots.failed_exhausted +
        r.handler_memory.failed_exhausted + r.handler_memory_large.failed_exhausted + r.server.handler_failures],
  ];
  const CHARTS = [
    ["requests/s", ["requests_per_second"], true],
    ["open connections", ["connections_open"], true],
    ["block allocator bytes: in use, free", ["block_in_use_bytes", "block_free_bytes"], false],
    ["pools: idle, outstanding", ["pools_idle", "pools_outstanding"], false],
    ["ring buffer: bytes in use, fallbacks", ["ring_used_bytes", "ring_fallbacks"], false],
    ["fixed-pool slots in use: connections, handler memory", ["connection_slots_in_use", "handler_slots_in_use"], false],
    ["open-file cache: entries, descriptors", ["open_files", "open_file_fds"], false],
    ["allocation failures", ["allocation_failures"], false],
  ];
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  const figuresBox = document.getElementById("figures"), status = document.getElementById("status");
  const values = {};
  for (const [name, label] of FIGURES) {
    const box = document.createElement("div");
    box.className = "figure";
    box.innerHTML = '<div class="label"></div><div class="value" data-metric="' + name + '">–</div>';
    box.firstChild.textContent = label;
    figuresBox.appendChild(box);
    values[name] = box.lastChild;
  }
  const haveCharts = typeof Chart !== "undefined";
  if (!haveCharts) document.getElementById("nocharts").style.display = "inline";
  const charts = {};
  let columns = "";  // the reactors' keys, joined: a new set (a worker came or went) redraws the table
  // A reactor's key and column title: "reactor0", or "worker2.reactor0" with worker processes.
  const key = r => (r.worker ? "worker" + r.worker + "." : "") + "reactor" + r.reactor;
  const columnTitle = r => (r.worker ? "worker " + r.worker + " " : "") + "reactor " + r.reactor;

  // One chart per entry; per-reactor lines (and a total) when `perReactor`, else one line per figure, in total.
  function makeCharts(reactors) {
    if (!haveCharts) return;
    const box = document.getElementById("charts");
    CHARTS.forEach(([title, names, perReactor], i) => {
      const div = document.createElement("div");
      div.className = "chart";
      div.innerHTML = '<h2></h2><div class="box"><canvas></canvas></div>';
      div.firstChild.textContent = title;
      box.appendChild(div);
      const series = perReactor
        ? [["total", names[0], null]].concat(reactors.map(r => [columnTitle(r), names[0], key(r)]))
        : names.map(n => [FIGURES.find(f => f[0] === n)[1], n, null]);
      const chart = new Chart(div.querySelector("canvas"), {
        type: "line",
        data: { labels: [], datasets: series.map(([label], k) => ({
          label, data: [], borderColor: COLORS[k % COLORS.length], backgroundColor: COLORS[k % COLORS.length],
          borderWidth: 1.5, pointRadius: 0, tension: 0.2 })) },
        options: { animation: false, responsive: true, maintainAspectRatio: false, normalized: true,
                   scales: { x: { ticks: { maxTicksLimit: 6 } }, y: { beginAtZero: true } },
                   plugins: { legend: { labels: { boxWidth: 10 } } } },
      });
      chart.series = series;
      charts["chart" + i] = chart;
    });
  }

  function sum(list) { return list.reduce((a, b) => a + b, 0); }
  let previous = {}, previousAt = 0;  // the last poll's reactors by key

  function update(stats, now) {
    const reactors = stats.reactors;
    if (Object.keys(charts).length === 0) makeCharts(reactors);
    const dt = previousAt ? (now - previousAt) / 1000 : 1;
    const per = {};  // name -> [value per reactor]
    for (const [name, , read] of FIGURES)
      per[name] = reactors.map(r => read(r, previous[key(r)], dt));
    for (const [name] of FIGURES) {
      const total = sum(per[name]);
      values[name].textContent = Number.isInteger(total) ? String(total) : total.toFixed(1);
    }
    renderTable(reactors, per);
    renderWorkers(stats.workers || []);
    const label = new Date(now).toLocaleTimeString();
    for (const chart of Object.values(charts)) {
      chart.data.labels.push(label);
      chart.series.forEach(([, name, column], k) => {
        const i = reactors.findIndex(r => key(r) === column);
        chart.data.datasets[k].data.push(column === null ? sum(per[name]) : i < 0 ? null : per[name][i]);
        if (chart.data.datasets[k].data.length > KEEP) chart.data.datasets[k].data.shift();
      });
      if (chart.data.labels.length > KEEP) chart.data.labels.shift();
      chart.update("none");
    }
    previous = Object.fromEntries(reactors.map(r => [key(r), r]));
    previousAt = now;
  }

  function renderTable(reactors, per) {
    const table = document.getElementById("reactors");
    const keys = reactors.map(key).join(",");
    if (keys !== columns) {
      columns = keys;
      table.tHead.innerHTML = "";
      table.tBodies[0].innerHTML = "";
      const head = table.tHead.insertRow();
      head.insertCell().outerHTML = "<th>figure</th>";
      reactors.forEach(r => { head.insertCell().outerHTML = "<th>" + columnTitle(r) + "</th>"; });
      for (const [name, label] of FIGURES) {
        const row = table.tBodies[0].insertRow();
        row.insertCell().textContent = label;
        reactors.forEach(r => { row.insertCell().setAttribute("data-metric", name + "." + key(r)); });
      }
    }
    for (const [name] of FIGURES)
      reactors.forEach((r, i) => {
        const v = per[name][i];
        table.querySelector('[data-metric="' + name + '.' + key(r) + '"]').textContent =
          Number.isInteger(v) ? String(v) : v.toFixed(1);
      });
  }

  // Worker processes (master/worker mode): pid, generation, restarts; nothing in one process.
  function renderWorkers(workers) {
    const table = document.getElementById("workers");
    table.tHead.innerHTML = "";
    table.tBodies[0].innerHTML = "";
    if (!workers.length) return;
    const head = table.tHead.insertRow();
    for (const h of ["worker", "pid", "generation", "state", "restarts"]) head.insertCell().outerHTML = "<th>" + h + "</th>";
    let restarts = 0;
    for (const w of workers) {
      const row = table.tBodies[0].insertRow();
      const p = w.worker_process;
      const cells = [w.worker, p.pid, p.generation, p.draining ? "draining" : "running"];
      for (const c of cells) row.insertCell().textContent = String(c);
      const r = row.insertCell();
      r.setAttribute("data-metric", "worker_restarts.worker" + w.worker);
      r.textContent = String(p.restarts);
      restarts += p.restarts;
    }
    const total = table.tBodies[0].insertRow();
    total.insertCell().textContent = "total";
    for (let i = 0; i < 3; ++i) total.insertCell();
    const r = total.insertCell();
    r.setAttribute("data-metric", "worker_restarts");
    r.textContent = String(restarts);
  }

  async function poll() {
    try {
      const response = await fetch("/stats", { cache: "no-store" });
      if (!response.ok) throw new Error("GET /stats: " + response.status);
      update(await response.json(), Date.now());
      status.textContent = "live";
      status.className = "";
    } catch (e) {
      status.textContent = "no answer from /stats (" + e.message + "); retrying";
      status.className = "error";
    }
    setTimeout(poll, POLL_MS);
  }
  window.mempoolDashboard = { charts, values };
  poll();
})();
</script>
</body>
</html>
)html";

std::string read_file(const std::string& path) {
  std::string text;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return text;
  char buffer[16384];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, f)) > 0;) text.append(buffer, got);
  std::fclose(f);
  return text;
}

void get_only(const Request& req, Response& res) {
  res.error(405);
  res.add_header("Allow", "GET, HEAD");
  (void)req;
}

}  // namespace

Handler dashboard() {
  return [](const Request& req, Response& res) {
    if (req.method != Method::get && req.method != Method::head) return get_only(req, res);
    res.text(200, page, "text/html; charset=utf-8");
    res.add_header("Cache-Control", "no-store");
  };
}

Handler chart_js(std::string_view path) {
  // Read once, at the route setup; the handler owns the bytes, which outlive every response.
  auto script = std::make_shared<const std::string>(read_file(std::string(path)));
  return [script](const Request& req, Response& res) {
    if (req.method != Method::get && req.method != Method::head) return get_only(req, res);
    if (script->empty()) return res.error(404);  // the page then shows its figures without charts
    res.text(200, *script, "text/javascript; charset=utf-8");
    res.add_header("Cache-Control", "max-age=3600");
  };
}

}  // namespace mempool::http
