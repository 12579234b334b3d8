/// \file
/// ReadBuffer: where a connection's bytes land while a request is in progress. A RingBuffer item
/// of the reactor when there is room (DESIGN §4), else connection pool memory (counted by the
/// caller as a ring fallback; never a failed read). Grows in place in the ring while it is the
/// newest item, else moves to the request pool; the bytes keep their offsets, which is all the
/// parser needs.
///
/// Memory is bounded per connection (limits.connection_memory): the connection pool's capacity
/// holds its fallbacks and, through the request pool (a cascading child), every grown buffer.
/// A grown buffer that grows again frees its old memory at once; a fallback buffer is reused
/// (reuse()) for the next pipelined request rather than taking more of the connection pool,
/// which is reset only when the connection goes idle.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include <mempool/pool.hpp>
#include <mempool/ring_buffer.hpp>

namespace mempool::server {

struct ReadBuffer {
  enum class Source : unsigned char { none, ring, fallback, grown };

  char* data = nullptr;
  std::size_t filled = 0;    ///< bytes read into data
  std::size_t capacity = 0;  ///< bytes data can hold
  RingBuffer* ring = nullptr;  ///< the ring data is an item of, or nullptr (pool memory)
  Source source = Source::none;

  /// n bytes from the ring, or `fallback_n` (at least n) from `fallback` (the connection pool)
  /// when the ring has no contiguous room.
  bool acquire(RingBuffer& r, Pool& fallback, std::size_t n, std::size_t fallback_n = 0) noexcept {
    if (void* p = r.alloc(n)) {
      data = static_cast<char*>(p);
      ring = &r;
      source = Source::ring;
      capacity = n;
    } else {
      capacity = std::max(n, fallback_n);
      data = static_cast<char*>(fallback.alloc_unaligned(capacity));
      ring = nullptr;
      source = Source::fallback;
    }
    filled = 0;
    return data != nullptr;
  }
  bool fell_back() const noexcept { return source == Source::fallback; }

  /// Room for n bytes: extends the ring item in place, or moves to `pool` (the request pool).
  bool grow(Pool& pool, std::size_t n) noexcept {
    if (ring != nullptr && ring->extend(data, n)) {
      capacity = n;
      return true;
    }
    auto* moved = static_cast<char*>(pool.alloc_unaligned(n));
    if (moved == nullptr) return false;
    std::memcpy(moved, data, filled);
    if (source == Source::grown) (void)pool.free(data);  // a large allocation goes back at once
    release();
    data = moved;
    capacity = n;
    source = Source::grown;
    return true;
  }

  /// Keeps a fallback buffer for the next request, with its first `keep` bytes moved to its start
  /// from `from` (which may overlap it). False when this buffer cannot serve: a ring item or
  /// request pool memory, or too small.
  bool reuse(const char* from, std::size_t keep) noexcept {
    if (source != Source::fallback || keep > capacity) return false;
    std::memmove(data, from, keep);
    filled = keep;
    return true;
  }

  /// Gives a ring item back (pool memory goes with its pool).
  void release() noexcept {
    if (ring != nullptr) ring->free(data);
    ring = nullptr;
    data = nullptr;
    source = Source::none;
  }
};

}  // namespace mempool::server
