/// \file
/// Shared: what every reactor reads and nothing changes after start-up: the configuration, the
/// GlobalArena holding the route paths and the MIME table, the scoreboard, the logs.
///
/// Thread safety: read-only after construction, except the scoreboard (its own lock) and the
/// logs (their sinks lock).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>

#include <mempool/global_arena.hpp>
#include <mempool/http/mime_types.hpp>
#include <mempool/http/reactor_stats.hpp>
#include <mempool/http/stats.hpp>

#include "access_log.hpp"
#include "config.hpp"
#include "scoreboard.hpp"

namespace spdlog {
class logger;
}

namespace mempool::server {

/// Where a worker process sits in its master's scoreboard (master/worker mode, master.hpp).
struct WorkerSeat {
  Scoreboard* scoreboard;  ///< the master's, shared with every worker
  unsigned seat;
  int listener;            ///< the master's public listening socket (each reactor accepts on a duplicate)
  int admin_listener;      ///< the admin one, or -1
};

class Shared {
 public:
  /// A scoreboard of its own, one slot per reactor (config.reactors, or one per core when it is
  /// 0); or, for a worker, the master's and a seat in it.
  explicit Shared(ServerConfig server_config, const std::optional<WorkerSeat>& worker = std::nullopt);

  const ServerConfig config;
  GlobalArena arena;  ///< route paths, MIME table: everything that lives as long as the server
  http::MimeTypes mime;

 private:
  std::unique_ptr<Scoreboard> own_scoreboard_;  ///< single process only

 public:
  Scoreboard& scoreboard;
  const unsigned seat;         ///< this process's seat in the scoreboard (0 in a single process)
  const bool worker_process;   ///< master/worker mode: /stats shows every worker's seat
  AccessLog access_log;  ///< reconfigured by a reload, reopened by SIGUSR1
  const std::shared_ptr<spdlog::logger> error_log;

  unsigned reactors() const noexcept { return scoreboard.reactors(); }
  void publish(const http::ReactorSnapshot& snapshot) noexcept { scoreboard.publish(seat, snapshot); }
  std::size_t max_connections_per_reactor() const noexcept;
  /// Rows for /stats: every reactor's figures (the caller's `live` ones, the others' as last
  /// published; in a worker, every worker's reactors and its record) and the process-wide
  /// allocators.
  void collect(http::StatsTable& table, const http::ReactorSnapshot& live) const;

 private:
  void collect_workers(http::StatsTable& table, const http::ReactorSnapshot& live) const;
};

}  // namespace mempool::server
