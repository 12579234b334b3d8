/// \file
/// Scoreboard: each reactor's counters, published where every thread (and, since it is shared
/// memory made before any fork, any process) can read them, like Apache httpd's scoreboard. A
/// SharedArena holds one slot per reactor; a reactor copies its snapshot in on its tick, /stats
/// and /metrics read the slots, and shutdown reads the final ones.
#pragma once

#include <array>
#include <cstdint>

#include <mempool/block_allocator.hpp>
#include <mempool/fixed_pool.hpp>
#include <mempool/http/open_file_cache.hpp>
#include <mempool/http/stats.hpp>
#include <mempool/pool_manager.hpp>
#include <mempool/ring_buffer.hpp>
#include <mempool/shared_arena.hpp>
#include <mempool/small_object_allocator.hpp>

namespace mempool::server {

/// A reactor's own counters. Plain integers: one thread writes them.
struct ReactorCounters {
  std::uint64_t accepts = 0;         ///< connections accepted
  std::uint64_t refused = 0;         ///< accepted over max_connections: answered 503, closed
  std::uint64_t open = 0;            ///< connections open now
  std::uint64_t closed = 0;          ///< connections closed
  std::uint64_t requests = 0;        ///< requests parsed and routed
  std::array<std::uint64_t, 6> responses{};  ///< responses by class: [2] is 2xx
  std::uint64_t parse_errors = 0;    ///< requests refused by the parser (400, 413, 414, 431, 501, 505, ...)
  std::uint64_t timeouts = 0;        ///< connections closed by a deadline
  std::uint64_t ring_fallbacks = 0;  ///< read buffers taken from a pool because the ring had no room
  std::uint64_t continues = 0;       ///< "100 Continue" sent
};

/// Everything /stats shows for one reactor, copied at one moment.
struct ReactorSnapshot {
  std::uint32_t reactor = 0;
  bool published = false;            ///< false until the reactor first publishes
  ReactorCounters server;
  BlockAllocatorStats block_allocator;
  PoolManagerStats pool_manager;
  RingBufferStats ring_buffer;
  FixedPoolStats connection_slots;
  FixedPoolStats handler_memory;
  std::uint64_t handler_memory_heap = 0;
  SmallObjectStats small_objects;
  http::OpenFileCacheStats open_files;
};

/// The rows /stats and /metrics show for a snapshot.
void add_rows(http::StatsTable& table, const ReactorSnapshot& s);

class Scoreboard {
 public:
  explicit Scoreboard(unsigned reactors);
  void publish(const ReactorSnapshot& snapshot) noexcept;
  ReactorSnapshot read(unsigned reactor) const noexcept;
  unsigned reactors() const noexcept { return reactors_; }
  SharedArenaStats arena_stats() const noexcept { return arena_.stats(); }

 private:
  unsigned reactors_;
  mutable SharedArena arena_;
  ReactorSnapshot* slots_;  ///< in arena_, one per reactor
};

}  // namespace mempool::server
