/// \file
/// What /stats and /metrics publish for one reactor: its counters and the statistics of every
/// allocator instance it owns, copied at one moment (a plain struct, so a scoreboard can keep it
/// in shared memory), and the rows they make in a StatsTable.
///
/// Per reactor the server creates, and this snapshot carries, exactly:
///   block_allocator        the BlockAllocator its connection and request pools draw blocks from
///   pool_manager           the PoolManager recycling connection pools (request pools are children)
///   ring_buffer            the RingBuffer reads land in
///   connection_slots       the FixedPool of Connection objects
///   handler_memory         the FixedPool of small slices for Asio's operations (timer waits)
///   handler_memory_large   the FixedPool of large slices for Asio's operations (accepts)
///   small_objects          the SmallObjectAllocator of the open-file caches
///   open_files             the open-file caches of its static-file handlers, summed
/// The process-wide GlobalArena and SharedArena are added by whoever collects the rows.
#pragma once

#include <array>
#include <cstdint>

#include <mempool/block_allocator.hpp>
#include <mempool/fixed_pool.hpp>
#include <mempool/http/open_file_cache.hpp>
#include <mempool/http/stats.hpp>
#include <mempool/pool_manager.hpp>
#include <mempool/ring_buffer.hpp>
#include <mempool/small_object_allocator.hpp>

namespace mempool::http {

/// A reactor's own counters. Plain integers: one thread writes them.
struct ReactorCounters {
  std::uint64_t accepts = 0;         ///< connections accepted
  std::uint64_t refused = 0;         ///< accepted over max_connections: answered 503, closed
  std::uint64_t open = 0;            ///< connections open now
  std::uint64_t closed = 0;          ///< connections closed
  std::uint64_t requests = 0;        ///< requests parsed and routed
  std::array<std::uint64_t, 6> responses{};  ///< responses by class: [2] is 2xx
  std::uint64_t parse_errors = 0;    ///< requests refused by the parser (400, 413, 414, 431, 501, 505, ...)
  std::uint64_t handler_failures = 0;  ///< handlers that threw, or answers the request pool could not hold: 500
  std::uint64_t timeouts = 0;        ///< connections closed by a deadline
  std::uint64_t ring_fallbacks = 0;  ///< read buffers taken from a pool because the ring had no room
  std::uint64_t continues = 0;       ///< "100 Continue" sent
  std::uint64_t gather_writes = 0;   ///< sendmsg calls carrying responses (a batch of pipelined answers is one)
  std::uint64_t batch_yields = 0;    ///< turns a pipelining connection gave up with requests still waiting
  LatencyHistogram request_duration; ///< parsed request to response written, per response
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
  FixedPoolStats handler_memory;        ///< the small slices
  FixedPoolStats handler_memory_large;  ///< the large slices
  std::uint64_t handler_memory_heap = 0;  ///< operations that fitted no slice: heap allocations
  SmallObjectStats small_objects;
  OpenFileCacheStats open_files;
};

/// The rows /stats and /metrics show for a snapshot, scoped to its reactor.
void add_rows(StatsTable& table, const ReactorSnapshot& s);

}  // namespace mempool::http
