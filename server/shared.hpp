/// \file
/// Shared: what every reactor reads and nothing changes after start-up: the configuration, the
/// GlobalArena holding the route paths and the MIME table, the scoreboard, the access log.
#pragma once

#include <memory>

#include <spdlog/logger.h>

#include <mempool/global_arena.hpp>
#include <mempool/http/mime_types.hpp>
#include <mempool/http/stats.hpp>

#include "config.hpp"
#include "scoreboard.hpp"

namespace mempool::server {

class Reactor;

class Shared {
 public:
  Shared(ServerConfig server_config, unsigned reactor_count, std::shared_ptr<spdlog::logger> access);

  const ServerConfig config;
  GlobalArena arena;         ///< route paths, MIME table: everything that lives as long as the process
  http::MimeTypes mime;
  Scoreboard scoreboard;
  std::shared_ptr<spdlog::logger> access_log;  ///< null: off

  unsigned reactors() const noexcept { return scoreboard.reactors(); }
  std::size_t max_connections_per_reactor() const noexcept;
  /// Rows for /stats: `caller`'s live figures, the other reactors' published ones, the process's.
  void collect(http::StatsTable& table, const Reactor& caller) const;
};

}  // namespace mempool::server
