/// \file
/// RingBuffer: per-reactor I/O memory handed out in FIFO order (Swoole RingBuffer, DESIGN §3.4).
///
/// One contiguous region, owned or given by the caller. `alloc(n)` carves variable-size items
/// one after another; `free(p)` only marks an item free; the space comes back when the *oldest*
/// items are free, so a freed item behind a live one waits (stats count what that costs).
/// Thread safety: one owner thread calls everything except free(); free() may be called from
/// any thread (one atomic store; the owner collects). Lifetime: the ring must outlive every
/// item; caller-given memory must outlive the ring and is never freed by it.
///
/// Layout. Every item is a 16-byte header followed by its payload; payloads are 16-byte
/// aligned. All offsets and item sizes are multiples of 16 (`unit`), so whatever is left at the
/// end of the region is either nothing or room for at least a header: a skip item always fits.
/// That is the arithmetic Swoole got wrong for years; here it holds by construction.
///
/// Failure policy: alloc() returns nullptr and never throws (the server then falls back to a
/// pool, DESIGN §5); extend() returns false and leaves the item as it was.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mempool/allocator.hpp"

namespace mempool {

/// A snapshot of one ring's counters. Byte figures count whole items, headers included.
struct RingBufferStats {
  std::size_t capacity = 0;      ///< bytes of the region items are carved from (a multiple of 16)
  std::size_t bytes_used = 0;    ///< from the oldest item to the newest: live, freed-not-yet-collected and skip items
  std::size_t bytes_live = 0;    ///< held by live items
  std::size_t items_live = 0;    ///< allocated and not yet freed
  std::uint64_t allocs = 0;      ///< successful alloc() calls
  std::uint64_t frees = 0;       ///< free() calls seen (allocs - items_live: free() keeps no shared counter)
  std::uint64_t failed_full = 0;        ///< alloc() refused: live items hold too many bytes
  std::uint64_t failed_fragmented = 0;  ///< alloc() refused although enough bytes are not live: they are not contiguous (freed items stuck behind a live one, or split by the wrap)
  std::uint64_t failed_oversize = 0;    ///< alloc() refused: larger than the ring could ever hold
  std::uint64_t collected = 0;   ///< items (skip items included) whose space came back
  std::uint64_t wraps = 0;       ///< times the head went back to offset 0 past a skip item
  std::uint64_t extends = 0;     ///< successful extend() calls
  std::uint64_t failed_extends = 0;  ///< extend() refused: not the newest item, or no contiguous room
  bool operator==(const RingBufferStats&) const = default;
};

class RingBuffer {
 public:
  using Stats = RingBufferStats;

  /// Header size, payload alignment and the granule of every offset and item size.
  static constexpr std::size_t unit = 16;

  /// Owns a region of `capacity` bytes rounded down to a multiple of `unit`. Throws
  /// std::bad_alloc if the heap refuses it (construction, not allocation, may throw).
  explicit RingBuffer(std::size_t capacity);
  /// Uses [memory, memory + bytes): the start is rounded up and the end down to `unit`. The ring
  /// never writes outside that range and never frees it.
  RingBuffer(void* memory, std::size_t bytes) noexcept;
  ~RingBuffer();
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  /// A 16-byte aligned item of n bytes after the newest one, wrapping to the start when the end
  /// is too short; nullptr when there is no contiguous room (counted as full, fragmented or
  /// oversize). n == 0 gives a distinct item with no payload that must be freed like any other.
  /// When the ring is empty the next item starts at offset 0.
  [[nodiscard]] void* alloc(std::size_t n) noexcept;

  /// Marks the item free; any thread may call it. Its space returns once every older item is
  /// free too. nullptr is ignored. Checked builds abort on a foreign pointer or a double free.
  void free(void* p) noexcept;

  /// Makes item p hold at least n bytes, keeping its address and contents. True when n fits in
  /// the item already, or p is the newest item and the bytes right after it are free (an item
  /// never grows across the end of the region). False leaves p unchanged.
  [[nodiscard]] bool extend(void* p, std::size_t n) noexcept;

  /// Bytes item p may hold: its requested size rounded up to `unit` (what extend grants free).
  static std::size_t usable_size(const void* p) noexcept;

  /// Bytes an item of n payload bytes takes in the ring, header included.
  static constexpr std::size_t footprint(std::size_t n) noexcept { return unit + (n + unit - 1) / unit * unit; }

  /// The largest n alloc() can ever satisfy (an empty ring), 0 if the region holds no item.
  std::size_t max_alloc() const noexcept { return capacity_ >= unit ? capacity_ - unit : 0; }
  std::size_t capacity() const noexcept { return capacity_; }
  /// True when p points at the payload of an item slot inside this ring's region.
  bool owns(const void* p) const noexcept;

  /// Walks the items between oldest and newest: O(items), for reporting, not the hot path.
  /// Owner thread only.
  Stats stats() const noexcept;

  // --- Allocator concept ------------------------------------------------------------------------
  [[nodiscard]] void* allocate(std::size_t n) noexcept { return alloc(n); }
  void deallocate(void* p, std::size_t) noexcept { free(p); }

 private:
  struct ItemHeader;
  enum class Failure { full, fragmented, oversize };

  void* place(std::size_t size, std::size_t n) noexcept;
  void* alloc_slow(std::size_t size, std::size_t n) noexcept;
  void write_skip_item() noexcept;
  void collect() noexcept;
  void* fail(Failure why) noexcept;
  Failure classify(std::size_t size) const noexcept;
  std::size_t room_at_head() const noexcept;
  std::size_t advance(std::size_t offset, std::size_t by) const noexcept;
  ItemHeader* header_at(std::size_t offset) const noexcept;

  // The occupied bytes run from tail_ forward (wrapping at capacity_) for used_ bytes, so
  // head_ == (tail_ + used_) % capacity_ at all times, and head_ == tail_ means empty when
  // used_ == 0 and full when used_ == capacity_. Items never straddle the end of the region.
  char* base_;              ///< region start, `unit`-aligned
  std::size_t capacity_;    ///< bytes of the region, a multiple of `unit` (0: every alloc fails)
  std::size_t head_ = 0;    ///< offset where the next item goes; in [0, capacity_)
  std::size_t tail_ = 0;    ///< offset of the oldest item not yet collected; in [0, capacity_)
  std::size_t used_ = 0;    ///< bytes from tail_ to head_; in [0, capacity_]
  bool owned_;              ///< base_ came from operator new and goes back to it
  std::uint64_t allocs_ = 0;
  std::uint64_t failed_full_ = 0;
  std::uint64_t failed_fragmented_ = 0;
  std::uint64_t failed_oversize_ = 0;
  std::uint64_t collected_ = 0;
  std::uint64_t wraps_ = 0;
  std::uint64_t extends_ = 0;
  std::uint64_t failed_extends_ = 0;
};

static_assert(Allocator<RingBuffer>);

}  // namespace mempool
