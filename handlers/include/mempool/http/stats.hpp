/// \file
/// /stats (JSON) and /metrics (Prometheus text): every allocator's counters per reactor, and the
/// process-wide ones (DESIGN §4). The handlers know nothing of the server: they call a collector
/// that reports rows into a StatsTable, then render the table into the request pool.
///
/// Naming, once for both renderings: a row is (group, name) with a one-line help; units end the
/// name (`in_use_bytes`, `request_duration_seconds`). Prometheus sees the family
/// `mempool_<group>_<name>` (a counter's with `_total` appended), `# HELP` and `# TYPE` before it,
/// the reactor as the label reactor="N", and a row's own label (class="2xx") beside it; JSON sees
/// `"<group>":{"<name>[_<label value>]":value}` per reactor.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory_resource>
#include <string_view>
#include <vector>

#include <mempool/http/request_pool.hpp>
#include <mempool/http/router.hpp>

namespace mempool::http {

/// A latency histogram with fixed buckets, written by one thread with no allocation: observe()
/// is a few compares and an increment. Counts are per bucket (not cumulative); the renderer
/// accumulates them.
struct LatencyHistogram {
  /// Upper bounds in microseconds, and the same as Prometheus `le` labels, in seconds.
  static constexpr std::array<std::uint64_t, 12> bounds_us{100,    250,    500,     1000,    2500,    5000,
                                                           10'000, 25'000, 100'000, 250'000, 1'000'000, 5'000'000};
  static constexpr std::array<std::string_view, 12> bounds_text{"0.0001", "0.00025", "0.0005", "0.001",
                                                                 "0.0025", "0.005",   "0.01",   "0.025",
                                                                 "0.1",    "0.25",    "1",      "5"};
  std::array<std::uint64_t, bounds_us.size() + 1> counts{};  ///< [i]: at most bounds_us[i]; last: above all
  std::uint64_t sum_us = 0;

  void observe(std::chrono::nanoseconds elapsed) noexcept {
    const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed.count() / 1000));
    std::size_t i = 0;
    while (i < bounds_us.size() && us > bounds_us[i]) ++i;
    ++counts[i];
    sum_us += us;
  }
  std::uint64_t count() const noexcept {
    std::uint64_t n = 0;
    for (const std::uint64_t c : counts) n += c;
    return n;
  }
};

/// Rows of (scope, group, name, value). scope is a reactor's number, or `process`. In
/// master/worker mode a row also names its worker (set_worker()): a label worker="W" beside the
/// reactor's, and in JSON a "worker" field in the reactor's object, or its own object in "workers"
/// for a worker's process-scope rows.
class StatsTable {
 public:
  static constexpr int process = -1;
  enum class Kind : std::uint8_t { counter, gauge, bucket, sum_micro, count };
  struct Label {
    std::string_view name;   ///< "class": a literal; empty: none
    std::string_view value;  ///< "2xx": a literal
  };
  struct Row {
    int scope;
    std::string_view group;  ///< e.g. "pool_manager": a literal
    std::string_view name;   ///< e.g. "outstanding": a literal
    std::string_view help;   ///< one line, for # HELP: a literal
    std::uint64_t value;     ///< sum_micro: microseconds, rendered as seconds
    Kind kind;
    Label label;
    int worker = 0;          ///< the worker process it belongs to, from 1; 0: none (one process)
  };

  /// Rows in `pool`; every call below throws std::bad_alloc when it is full.
  explicit StatsTable(RequestPool pool) : rows_(pool.resource()) {}
  void counter(int scope, std::string_view group, std::string_view name, std::string_view help,
               std::uint64_t value, Label label = {}) {
    rows_.push_back({scope, group, name, help, value, Kind::counter, label, worker_});
  }
  void gauge(int scope, std::string_view group, std::string_view name, std::string_view help,
             std::uint64_t value, Label label = {}) {
    rows_.push_back({scope, group, name, help, value, Kind::gauge, label, worker_});
  }
  /// A histogram family `name` (ending in its unit, e.g. "request_duration_seconds").
  void histogram(int scope, std::string_view group, std::string_view name, std::string_view help,
                 const LatencyHistogram& h);
  /// The rows reported from now on belong to worker `worker` (from 1; 0: to none).
  void set_worker(int worker) noexcept { worker_ = worker; }
  const std::pmr::vector<Row>& rows() const noexcept { return rows_; }

  /// {"reactors":[{"reactor":0,"<group>":{"<name>":value,...},...},...],"process":{...}}; with
  /// workers: {"reactors":[{"reactor":0,"worker":1,...},...],"workers":[{"worker":1,"<group>":{...}},...],"process":{...}}
  std::string_view json(RequestPool pool) const;
  /// Prometheus text format 0.0.4: per family # HELP, # TYPE, then its samples.
  std::string_view prometheus(RequestPool pool) const;

 private:
  std::pmr::vector<Row> rows_;
  int worker_ = 0;
};

/// Fills a table; called on the reactor that serves the request.
using StatsCollector = std::function<void(StatsTable&)>;

/// GET /stats: the table as JSON.
Handler stats_json_handler(StatsCollector collect);
/// GET /metrics: the table as Prometheus text (version 0.0.4).
Handler metrics_handler(StatsCollector collect);

}  // namespace mempool::http
