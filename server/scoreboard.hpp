/// \file
/// Scoreboard: each reactor's counters, published where every thread (and, since it is shared
/// memory made before any fork, any process) can read them, like Apache httpd's scoreboard. A
/// SharedArena holds one slot per reactor; a reactor copies its snapshot in on its tick, /stats
/// and /metrics read the slots, and shutdown reads the final ones.
#pragma once

#include <mempool/http/reactor_stats.hpp>
#include <mempool/shared_arena.hpp>

namespace mempool::server {

class Scoreboard {
 public:
  explicit Scoreboard(unsigned reactors);
  void publish(const http::ReactorSnapshot& snapshot) noexcept;
  http::ReactorSnapshot read(unsigned reactor) const noexcept;
  unsigned reactors() const noexcept { return reactors_; }
  SharedArenaStats arena_stats() const noexcept { return arena_.stats(); }

 private:
  unsigned reactors_;
  mutable SharedArena arena_;
  http::ReactorSnapshot* slots_;  ///< in arena_, one per reactor
};

}  // namespace mempool::server
