#include "shared.hpp"

#include <algorithm>

#include "error_log.hpp"

namespace mempool::server {

Shared::Shared(ServerConfig server_config)
    : config(std::move(server_config)),
      mime(arena),
      scoreboard(http::reactor_count(config)),
      access_log(config.access_log, config.access_log_format),
      error_log(server::error_log()) {}

std::size_t Shared::max_connections_per_reactor() const noexcept {
  return std::max<std::size_t>(1, config.limits.max_connections / reactors());
}

void Shared::collect(http::StatsTable& table, const http::ReactorSnapshot& live) const {
  for (unsigned i = 0; i < reactors(); ++i) add_rows(table, i == live.reactor ? live : scoreboard.read(i));
  const GlobalArenaStats g = arena.stats();
  const int p = http::StatsTable::process;
  table.gauge(p, "global_arena", "pages", "Pages of the process-wide arena.", g.pages);
  table.gauge(p, "global_arena", "reserved_bytes", "Bytes the arena reserved.", g.bytes_reserved);
  table.gauge(p, "global_arena", "used_bytes", "Bytes handed out by the arena.", g.bytes_used);
  table.counter(p, "global_arena", "allocations", "Allocations from the arena.", g.allocations);
  const SharedArenaStats s = scoreboard.arena_stats();
  table.gauge(p, "shared_arena", "capacity_bytes", "Size of the shared mapping (the scoreboard).", s.capacity);
  table.gauge(p, "shared_arena", "in_use_bytes", "Bytes allocated in the shared mapping.", s.bytes_in_use);
  table.gauge(p, "shared_arena", "free_bytes", "Bytes free in the shared mapping.", s.bytes_free);
  table.counter(p, "shared_arena", "allocs", "Allocations in the shared mapping.", s.allocs);
  table.gauge(p, "server", "reactors", "Reactor threads.", reactors());
}

}  // namespace mempool::server
