#include "shared.hpp"

#include <algorithm>

#include "error_log.hpp"

namespace mempool::server {

Shared::Shared(ServerConfig server_config, const std::optional<WorkerSeat>& worker)
    : config(std::move(server_config)),
      mime(arena),
      own_scoreboard_(worker ? nullptr : std::make_unique<Scoreboard>(http::reactor_count(config))),
      scoreboard(worker ? *worker->scoreboard : *own_scoreboard_),
      seat(worker ? worker->seat : 0),
      worker_process(worker.has_value()),
      access_log(config.access_log, config.access_log_format),
      error_log(server::error_log()) {}

std::size_t Shared::max_connections_per_reactor() const noexcept {
  return std::max<std::size_t>(1, config.limits.max_connections / reactors());
}

void Shared::collect(http::StatsTable& table, const http::ReactorSnapshot& live) const {
  if (!worker_process) {
    for (unsigned i = 0; i < reactors(); ++i) add_rows(table, i == live.reactor ? live : scoreboard.read(0, i));
  } else {
    collect_workers(table, live);
  }
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
  table.gauge(p, "server", "reactors", "Reactor threads (of each worker process).", reactors());
}

void Shared::collect_workers(http::StatsTable& table, const http::ReactorSnapshot& live) const {
  using State = WorkerRecord::State;
  for (unsigned s = 0; s < scoreboard.seats(); ++s) {
    const WorkerRecord w = scoreboard.worker(s);
    if (w.state == State::empty && s != seat) continue;
    const int number = static_cast<int>(s) + 1;
    table.set_worker(number);
    for (unsigned i = 0; i < reactors(); ++i)
      add_rows(table, s == seat && i == live.reactor ? live : scoreboard.read(s, i));
    const int p = http::StatsTable::process;
    table.gauge(p, "worker_process", "pid", "The worker's process id.", static_cast<std::uint64_t>(w.pid));
    table.gauge(p, "worker_process", "generation", "Reloads before the worker started (0: started with the master).",
                w.generation);
    table.gauge(p, "worker_process", "draining", "1 while the worker finishes its requests before it exits (reload, stop).",
                w.state == State::draining ? 1 : 0);
    table.counter(p, "worker_process", "restarts", "Processes of this worker's seat that died and were replaced.",
                  w.restarts);
  }
  table.set_worker(0);
}

}  // namespace mempool::server
