#include <mempool/http/reactor_stats.hpp>

#include <string_view>

namespace mempool::http {

namespace {

void add(StatsTable& t, int r, const ReactorCounters& c) {
  t.counter(r, "server", "accepts", "Connections accepted.", c.accepts);
  t.counter(r, "server", "refused", "Connections refused over max_connections (503, then closed).", c.refused);
  t.gauge(r, "server", "connections_open", "Connections open now.", c.open);
  t.counter(r, "server", "connections_closed", "Connections closed.", c.closed);
  t.counter(r, "server", "requests", "Requests parsed and routed.", c.requests);
  static constexpr std::array<std::string_view, 6> classes{"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (std::size_t i = 1; i < classes.size(); ++i)
    t.counter(r, "server", "responses", "Responses sent, by status class.", c.responses[i], {"class", classes[i]});
  t.counter(r, "server", "parse_errors", "Requests refused by the parser (400, 413, 414, 431, 501, 505).",
            c.parse_errors);
  t.counter(r, "server", "handler_failures", "Handlers that threw or answers that did not fit the request pool (500).",
            c.handler_failures);
  t.counter(r, "server", "timeouts", "Connections closed by a header, body, idle or send deadline.", c.timeouts);
  t.counter(r, "server", "ring_fallbacks", "Read buffers taken from a pool because the ring had no room.",
            c.ring_fallbacks);
  t.counter(r, "server", "continues", "100 Continue answers sent.", c.continues);
  t.counter(r, "server", "gather_writes", "sendmsg calls carrying responses (a batch of pipelined answers is one).",
            c.gather_writes);
  t.counter(r, "server", "batch_yields", "Turns a pipelining connection gave up with requests still waiting.",
            c.batch_yields);
  t.histogram(r, "server", "request_duration_seconds",
              "Time from a parsed request to its response written (or queued to the socket).", c.request_duration);
}

void add(StatsTable& t, int r, const BlockAllocatorStats& s) {
  t.gauge(r, "block_allocator", "in_use_bytes", "Bytes of blocks handed out to pools.", s.bytes_in_use);
  t.gauge(r, "block_allocator", "free_bytes", "Bytes of blocks kept on the free lists.", s.bytes_free);
  t.gauge(r, "block_allocator", "max_free_bytes", "Cap on the bytes kept free (max_free).", s.max_free);
  t.counter(r, "block_allocator", "blocks_reused", "Blocks handed out from a free list.", s.blocks_reused);
  t.counter(r, "block_allocator", "os_allocs", "Blocks taken from the operating system.", s.os_allocs);
  t.counter(r, "block_allocator", "os_frees", "Blocks given back to the operating system.", s.os_frees);
  t.counter(r, "block_allocator", "os_failures", "Allocation failures: the operating system refused a block.",
            s.os_failures);
  t.counter(r, "block_allocator", "foreign_frees", "Blocks freed from another thread.", s.foreign_frees);
}

void add(StatsTable& t, int r, const PoolManagerStats& s) {
  t.counter(r, "pool_manager", "created", "Pools created.", s.created);
  t.counter(r, "pool_manager", "reused", "Pools handed out again from the idle list.", s.reused);
  t.counter(r, "pool_manager", "released", "Pools released.", s.released);
  t.counter(r, "pool_manager", "destroyed", "Pools destroyed.", s.destroyed);
  t.counter(r, "pool_manager", "foreign_releases", "Pools released from another thread.", s.foreign_releases);
  t.counter(r, "pool_manager", "deferred_fallbacks", "Deferred releases done synchronously (queue full).",
            s.deferred_fallbacks);
  t.gauge(r, "pool_manager", "idle", "Pools idle, ready for reuse.", s.idle);
  t.gauge(r, "pool_manager", "idle_bytes", "Bytes held by idle pools.", s.idle_bytes);
  t.gauge(r, "pool_manager", "outstanding", "Pools acquired and not yet released.", s.outstanding);
}

void add(StatsTable& t, int r, const RingBufferStats& s) {
  t.gauge(r, "ring_buffer", "capacity_bytes", "Size of the read ring.", s.capacity);
  t.gauge(r, "ring_buffer", "used_bytes", "Bytes of the ring between tail and head (live and not yet collected).",
          s.bytes_used);
  t.gauge(r, "ring_buffer", "live_bytes", "Bytes of live items.", s.bytes_live);
  t.gauge(r, "ring_buffer", "items_live", "Live items (read buffers).", s.items_live);
  t.counter(r, "ring_buffer", "allocs", "Items allocated.", s.allocs);
  t.counter(r, "ring_buffer", "frees", "Items freed.", s.frees);
  t.counter(r, "ring_buffer", "failed_full", "Allocations refused: the ring was full.", s.failed_full);
  t.counter(r, "ring_buffer", "failed_fragmented", "Allocations refused: no contiguous room.", s.failed_fragmented);
  t.counter(r, "ring_buffer", "failed_oversize", "Allocations refused: larger than the ring.", s.failed_oversize);
  t.counter(r, "ring_buffer", "wraps", "Times allocation wrapped to the start.", s.wraps);
  t.counter(r, "ring_buffer", "extends", "Newest items grown in place.", s.extends);
  t.counter(r, "ring_buffer", "failed_extends", "Newest items that could not grow in place.", s.failed_extends);
}

void add(StatsTable& t, int r, std::string_view group, const FixedPoolStats& s) {
  t.gauge(r, group, "slice_size_bytes", "Size of one slice.", s.slice_size);
  t.gauge(r, group, "slices_total", "Slices in the pool.", s.slices_total);
  t.gauge(r, group, "in_use", "Slices in use.", s.in_use);
  t.gauge(r, group, "peak", "Most slices in use at once.", s.peak);
  t.counter(r, group, "allocs", "Slices allocated.", s.allocs);
  t.counter(r, group, "frees", "Slices freed.", s.frees);
  t.counter(r, group, "failed_exhausted", "Allocations refused: every slice in use.", s.failed_exhausted);
  t.counter(r, group, "failed_oversize", "Allocations refused: larger than a slice.", s.failed_oversize);
  t.counter(r, group, "double_frees", "Double frees detected and refused.", s.double_frees);
}

void add(StatsTable& t, int r, const SmallObjectStats& s) {
  std::size_t free_objects = 0;
  for (std::size_t n : s.free_objects) free_objects += n;
  t.gauge(r, "small_objects", "free_objects", "Objects on the size-class free lists.", free_objects);
  t.gauge(r, "small_objects", "chunks", "Chunks carved into objects.", s.chunks);
  t.gauge(r, "small_objects", "chunk_bytes", "Bytes of those chunks.", s.chunk_bytes);
  t.gauge(r, "small_objects", "heap_bytes", "Bytes of objects over 128 B, from the heap.", s.heap_bytes);
  t.counter(r, "small_objects", "refills", "Free-list refills.", s.refills);
  t.counter(r, "small_objects", "oom_handler_calls", "Calls of the out-of-memory handler.", s.oom_handler_calls);
}

void add(StatsTable& t, int r, const OpenFileCacheStats& s) {
  t.counter(r, "open_files", "hits", "Lookups answered from the open-file cache.", s.hits);
  t.counter(r, "open_files", "misses", "Lookups that opened the file.", s.misses);
  t.counter(r, "open_files", "evictions", "Entries evicted.", s.evictions);
  t.counter(r, "open_files", "revalidations", "Entries checked against the file system.", s.revalidations);
  t.counter(r, "open_files", "invalidations", "Entries dropped because the file changed.", s.invalidations);
  t.counter(r, "open_files", "expirations", "Entries dropped after going unused for the inactive time.",
            s.expirations);
  t.gauge(r, "open_files", "entries", "Entries in the cache.", s.entries);
  t.gauge(r, "open_files", "open_fds", "Descriptors the cache holds open.", s.open_fds);
  t.gauge(r, "open_files", "in_use", "Entries in use by responses being sent.", s.in_use);
  t.gauge(r, "open_files", "content_bytes", "Bytes of small files cached in memory.", s.content_bytes);
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
  t.counter(r, "handler_memory", "heap_allocations", "Asio operations that fitted no slice: heap allocations.",
            s.handler_memory_heap);
  add(t, r, "handler_memory_large", s.handler_memory_large);
  add(t, r, s.small_objects);
  add(t, r, s.open_files);
}

}  // namespace mempool::http
