/// \file
/// /stats (JSON) and /metrics (Prometheus text): every allocator's counters per reactor, and the
/// process-wide ones (DESIGN §4). The handlers know nothing of the server: they call a collector
/// that reports rows into a StatsTable, then render the table into the request pool.
#pragma once

#include <cstdint>
#include <functional>
#include <memory_resource>
#include <string_view>
#include <vector>

#include <mempool/http/request_pool.hpp>
#include <mempool/http/router.hpp>

namespace mempool::http {

/// Rows of (scope, group, name, value). scope is a reactor's number, or `process`.
class StatsTable {
 public:
  static constexpr int process = -1;
  enum class Kind : std::uint8_t { counter, gauge };
  struct Row {
    int scope;
    std::string_view group;  ///< e.g. "pool_manager": a literal
    std::string_view name;   ///< e.g. "outstanding": a literal
    std::uint64_t value;
    Kind kind;
  };

  /// Rows in `pool`; every call below throws std::bad_alloc when it is full.
  explicit StatsTable(RequestPool pool) : rows_(pool.resource()) {}
  void counter(int scope, std::string_view group, std::string_view name, std::uint64_t value) {
    rows_.push_back({scope, group, name, value, Kind::counter});
  }
  void gauge(int scope, std::string_view group, std::string_view name, std::uint64_t value) {
    rows_.push_back({scope, group, name, value, Kind::gauge});
  }
  const std::pmr::vector<Row>& rows() const noexcept { return rows_; }

  /// {"reactors":[{"reactor":0,"<group>":{"<name>":value,...},...},...],"process":{...}}
  std::string_view json(RequestPool pool) const;
  /// mempool_<group>_<name>{reactor="0"} value, one family at a time with its # TYPE line.
  std::string_view prometheus(RequestPool pool) const;

 private:
  std::pmr::vector<Row> rows_;
};

/// Fills a table; called on the reactor that serves the request.
using StatsCollector = std::function<void(StatsTable&)>;

/// GET /stats: the table as JSON.
Handler stats_json_handler(StatsCollector collect);
/// GET /metrics: the table as Prometheus text (version 0.0.4).
Handler metrics_handler(StatsCollector collect);

}  // namespace mempool::http
