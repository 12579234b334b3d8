/// \file
/// ReadBuffer: where a connection's bytes land while a request is in progress. A RingBuffer item
/// of the reactor when there is room (DESIGN §4), else pool memory (counted by the caller as a
/// ring fallback; never a failed read). Grows in place in the ring while it is the newest item,
/// else moves to the request pool; the bytes keep their offsets, which is all the parser needs.
#pragma once

#include <cstddef>
#include <cstring>

#include <mempool/pool.hpp>
#include <mempool/ring_buffer.hpp>

namespace mempool::server {

struct ReadBuffer {
  char* data = nullptr;
  std::size_t filled = 0;    ///< bytes read into data
  std::size_t capacity = 0;  ///< bytes data can hold
  RingBuffer* ring = nullptr;  ///< the ring data is an item of, or nullptr (pool memory)
  bool from_fallback = false;  ///< the ring had no room when it was first taken

  /// n bytes from the ring, or from `fallback` when the ring has no contiguous room.
  bool acquire(RingBuffer& r, Pool& fallback, std::size_t n) noexcept {
    if (void* p = r.alloc(n)) {
      data = static_cast<char*>(p);
      ring = &r;
    } else {
      data = static_cast<char*>(fallback.alloc_unaligned(n));
      from_fallback = true;
    }
    filled = 0;
    capacity = n;
    return data != nullptr;
  }
  bool fell_back() const noexcept { return from_fallback; }

  /// Room for n bytes: extends the ring item in place, or moves to `pool`.
  bool grow(Pool& pool, std::size_t n) noexcept {
    if (ring != nullptr && ring->extend(data, n)) {
      capacity = n;
      return true;
    }
    auto* moved = static_cast<char*>(pool.alloc_unaligned(n));
    if (moved == nullptr) return false;
    std::memcpy(moved, data, filled);
    release();
    data = moved;
    capacity = n;
    return true;
  }

  /// Gives a ring item back (pool memory goes with its pool).
  void release() noexcept {
    if (ring != nullptr) ring->free(data);
    ring = nullptr;
    data = nullptr;
  }
};

}  // namespace mempool::server
