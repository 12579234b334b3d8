/// \file
/// Shared: what every reactor reads and nothing changes after start-up: the configuration, the
/// GlobalArena holding the route paths and the MIME table, the scoreboard, the logs.
///
/// Thread safety: read-only after construction, except the scoreboard (its own lock) and the
/// logs (their sinks lock).
#pragma once

#include <cstddef>
#include <memory>

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

class Shared {
 public:
  /// One scoreboard slot per reactor: config.reactors, or one per core when it is 0.
  explicit Shared(ServerConfig server_config);

  const ServerConfig config;
  GlobalArena arena;  ///< route paths, MIME table: everything that lives as long as the server
  http::MimeTypes mime;
  Scoreboard scoreboard;
  AccessLog access_log;  ///< reconfigured by a reload, reopened by SIGUSR1
  const std::shared_ptr<spdlog::logger> error_log;

  unsigned reactors() const noexcept { return scoreboard.reactors(); }
  std::size_t max_connections_per_reactor() const noexcept;
  /// Rows for /stats: every reactor's figures (the caller's `live` ones, the others' as last
  /// published) and the process-wide allocators.
  void collect(http::StatsTable& table, const http::ReactorSnapshot& live) const;
};

}  // namespace mempool::server
