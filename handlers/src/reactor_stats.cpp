#include <mempool/http/reactor_stats.hpp>

#include <string_view>

namespace mempool::http {

namespace {

void add(StatsTable& t, int r, const ReactorCounters& c) {
  t.counter(r, "server", "accepts", c.accepts);
  t.counter(r, "server", "refused", c.refused);
  t.gauge(r, "server", "connections_open", c.open);
  t.counter(r, "server", "connections_closed", c.closed);
  t.counter(r, "server", "requests", c.requests);
  static constexpr std::array<std::string_view, 6> classes{"responses_0xx", "responses_1xx", "responses_2xx",
                                                           "responses_3xx", "responses_4xx", "responses_5xx"};
  for (std::size_t i = 1; i < classes.size(); ++i) t.counter(r, "server", classes[i], c.responses[i]);
  t.counter(r, "server", "parse_errors", c.parse_errors);
  t.counter(r, "server", "handler_failures", c.handler_failures);
  t.counter(r, "server", "timeouts", c.timeouts);
  t.counter(r, "server", "ring_fallbacks", c.ring_fallbacks);
  t.counter(r, "server", "continues", c.continues);
  t.counter(r, "server", "gather_writes", c.gather_writes);
  t.counter(r, "server", "batch_yields", c.batch_yields);
}

void add(StatsTable& t, int r, const BlockAllocatorStats& s) {
  t.gauge(r, "block_allocator", "bytes_in_use", s.bytes_in_use);
  t.gauge(r, "block_allocator", "bytes_free", s.bytes_free);
  t.gauge(r, "block_allocator", "max_free", s.max_free);
  t.counter(r, "block_allocator", "blocks_reused", s.blocks_reused);
  t.counter(r, "block_allocator", "os_allocs", s.os_allocs);
  t.counter(r, "block_allocator", "os_frees", s.os_frees);
  t.counter(r, "block_allocator", "os_failures", s.os_failures);
  t.counter(r, "block_allocator", "foreign_frees", s.foreign_frees);
}

void add(StatsTable& t, int r, const PoolManagerStats& s) {
  t.counter(r, "pool_manager", "created", s.created);
  t.counter(r, "pool_manager", "reused", s.reused);
  t.counter(r, "pool_manager", "released", s.released);
  t.counter(r, "pool_manager", "destroyed", s.destroyed);
  t.counter(r, "pool_manager", "foreign_releases", s.foreign_releases);
  t.counter(r, "pool_manager", "deferred_fallbacks", s.deferred_fallbacks);
  t.gauge(r, "pool_manager", "idle", s.idle);
  t.gauge(r, "pool_manager", "idle_bytes", s.idle_bytes);
  t.gauge(r, "pool_manager", "outstanding", s.outstanding);
}

void add(StatsTable& t, int r, const RingBufferStats& s) {
  t.gauge(r, "ring_buffer", "capacity", s.capacity);
  t.gauge(r, "ring_buffer", "bytes_used", s.bytes_used);
  t.gauge(r, "ring_buffer", "bytes_live", s.bytes_live);
  t.gauge(r, "ring_buffer", "items_live", s.items_live);
  t.counter(r, "ring_buffer", "allocs", s.allocs);
  t.counter(r, "ring_buffer", "frees", s.frees);
  t.counter(r, "ring_buffer", "failed_full", s.failed_full);
  t.counter(r, "ring_buffer", "failed_fragmented", s.failed_fragmented);
  t.counter(r, "ring_buffer", "failed_oversize", s.failed_oversize);
  t.counter(r, "ring_buffer", "wraps", s.wraps);
  t.counter(r, "ring_buffer", "extends", s.extends);
  t.counter(r, "ring_buffer", "failed_extends", s.failed_extends);
}

void add(StatsTable& t, int r, std::string_view group, const FixedPoolStats& s) {
  t.gauge(r, group, "slice_size", s.slice_size);
  t.gauge(r, group, "slices_total", s.slices_total);
  t.gauge(r, group, "in_use", s.in_use);
  t.gauge(r, group, "peak", s.peak);
  t.counter(r, group, "allocs", s.allocs);
  t.counter(r, group, "frees", s.frees);
  t.counter(r, group, "failed_exhausted", s.failed_exhausted);
  t.counter(r, group, "failed_oversize", s.failed_oversize);
  t.counter(r, group, "double_frees", s.double_frees);
}

void add(StatsTable& t, int r, const SmallObjectStats& s) {
  std::size_t free_objects = 0;
  for (std::size_t n : s.free_objects) free_objects += n;
  t.gauge(r, "small_objects", "free_objects", free_objects);
  t.gauge(r, "small_objects", "chunks", s.chunks);
  t.gauge(r, "small_objects", "chunk_bytes", s.chunk_bytes);
  t.gauge(r, "small_objects", "heap_bytes", s.heap_bytes);
  t.counter(r, "small_objects", "refills", s.refills);
  t.counter(r, "small_objects", "oom_handler_calls", s.oom_handler_calls);
}

void add(StatsTable& t, int r, const OpenFileCacheStats& s) {
  t.counter(r, "open_files", "hits", s.hits);
  t.counter(r, "open_files", "misses", s.misses);
  t.counter(r, "open_files", "evictions", s.evictions);
  t.counter(r, "open_files", "revalidations", s.revalidations);
  t.counter(r, "open_files", "invalidations", s.invalidations);
  t.gauge(r, "open_files", "entries", s.entries);
  t.gauge(r, "open_files", "open_fds", s.open_fds);
  t.gauge(r, "open_files", "in_use", s.in_use);
  t.gauge(r, "open_files", "content_bytes", s.content_bytes);
}

}  // namespace

void add_rows(StatsTable& t, const ReactorSnapshot& s) {
  const int r = static_cast<int>(s.reactor);
  add(t, r, s.server);
  add(t, r, s.block_allocator);
  add(t, r, s.pool_manager);
  add(t, r, s.ring_buffer);
  add(t, r, "connection_slots", s.connection_slots);
  add(t, r, "handler_memory", s.handler_memory);
  t.counter(r, "handler_memory", "heap_allocations", s.handler_memory_heap);
  add(t, r, "handler_memory_large", s.handler_memory_large);
  add(t, r, s.small_objects);
  add(t, r, s.open_files);
}

}  // namespace mempool::http
