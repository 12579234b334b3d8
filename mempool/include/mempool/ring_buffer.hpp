/// \file
/// RingBuffer: I/O memory handed out in FIFO order (Swoole RingBuffer, DESIGN §3.4).
///
/// One contiguous region, owned, given by the caller, or taken from a SharedArena. `alloc(n)`
/// carves variable-size items one after another; `free(p)` only marks an item free; the space
/// comes back when the *oldest* items are free, so a freed item behind a live one waits (stats
/// count what that costs).
///
/// Thread safety. Private ring (owned or caller memory): one owner thread calls everything except
/// free(); free() may be called from any thread (an atomic load and store; the owner collects).
/// Shared ring (made over a SharedArena before fork(), Swoole's shared ring): any thread of any
/// process that shares the arena may call anything; alloc, extend and stats take the arena's lock,
/// free stays lock-free.
/// Lifetime: the ring must outlive every item; caller memory must outlive the ring and is never
/// freed by it; a shared ring's region goes back to its arena when the creating process's object
/// is destroyed, so that one should be the last to go.
///
/// Layout. The region starts with a control block (head, tail, counters: offsets and counts only,
/// so every process sharing it reads the same state), then one mark byte per 16-byte unit of the
/// item area, then the item area. Every item is a 16-byte header followed by its payload; payloads
/// are 16-byte aligned; all offsets and item sizes are multiples of 16 (`unit`), so whatever is
/// left at the end of the area is either nothing or room for at least a header: a skip item always
/// fits (the arithmetic Swoole got wrong for years holds here by construction).
///
/// Double frees. The mark of the unit where an item starts says live, freed or skip; every other
/// unit's mark says none. free() stores freed only where it finds live, so freeing an item twice,
/// a pointer into the middle of an item, or a stale pointer whose space now lies inside a newer
/// item's payload is refused in every build: nothing changes, stats().bad_frees counts it,
/// free() returns false, and checked builds (MEMPOOL_EXPECT) abort with a message. Marks live
/// apart from the items, so nothing a payload holds can pass for a header. What no allocator that
/// knows items by address can tell: a stale pointer equal to a newer item's own address (that
/// frees the newer item), and two threads freeing one item at the same instant.
///
/// Failure policy: alloc() returns nullptr and never throws (the server then falls back to a
/// pool, DESIGN §5); extend() returns false and leaves the item as it was. Construction may throw
/// (std::bad_alloc for an owned or shared ring whose memory is refused).
/// A process that dies inside a shared ring's alloc or extend leaves the ring half updated: the
/// next caller finds the update flag it left set and marks the ring broken; from then on every
/// alloc fails and every extend is refused (stats().broken). A FIFO ring is lost to a dead process
/// anyway: an item it never frees blocks collection for good.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "mempool/allocator.hpp"

namespace mempool {

class SharedArena;

/// A snapshot of one ring's counters. Byte figures count whole items, headers included.
struct RingBufferStats {
  std::size_t capacity = 0;      ///< bytes of the item area (a multiple of 16)
  std::size_t bytes_used = 0;    ///< from the oldest item to the newest: live, freed-not-yet-collected and skip items
  std::size_t bytes_live = 0;    ///< held by live items
  std::size_t items_live = 0;    ///< allocated and not yet freed
  std::uint64_t allocs = 0;      ///< successful alloc() calls
  std::uint64_t frees = 0;       ///< successful free() calls (allocs - items_live: free() keeps no shared counter)
  std::uint64_t bad_frees = 0;   ///< free() refused: not a live item (double free, stale or foreign pointer)
  std::uint64_t failed_full = 0;        ///< alloc() refused: live items hold too many bytes
  std::uint64_t failed_fragmented = 0;  ///< alloc() refused although enough bytes are not live: they are not contiguous (freed items stuck behind a live one, or split by the wrap)
  std::uint64_t failed_oversize = 0;    ///< alloc() refused: larger than the ring could ever hold
  std::uint64_t collected = 0;   ///< items (skip items included) whose space came back
  std::uint64_t wraps = 0;       ///< times the head went back to offset 0 past a skip item
  std::uint64_t extends = 0;     ///< successful extend() calls
  std::uint64_t failed_extends = 0;  ///< extend() refused: not the newest item, no contiguous room, or not a live item
  bool broken = false;           ///< shared ring: a process died mid-update; alloc and extend now always fail
  bool operator==(const RingBufferStats&) const = default;
};

class RingBuffer {
 public:
  using Stats = RingBufferStats;

  /// Header size, payload alignment and the granule of every offset and item size.
  static constexpr std::size_t unit = 16;

  /// Owns a region with an item area of `capacity` bytes rounded down to a multiple of `unit`.
  /// Throws std::bad_alloc if the heap refuses it.
  explicit RingBuffer(std::size_t capacity);
  /// Formats [memory, memory + bytes): the start is rounded up to `unit`; the item area gets what
  /// is left after the control block and the marks (region_size() is the inverse). The ring never
  /// writes outside that range and never frees it. Too small for even the control block: a ring
  /// of capacity 0, whose counters live in the object, that refuses every alloc.
  RingBuffer(void* memory, std::size_t bytes) noexcept;
  /// A shared ring of `capacity` bytes (rounded down to `unit`) inside `arena`, made before fork()
  /// and used by the children. Throws std::bad_alloc if the arena cannot hold it.
  RingBuffer(SharedArena& arena, std::size_t capacity);
  ~RingBuffer();
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  /// Bytes of memory (from a `unit`-aligned start) a ring with an item area of `capacity` bytes
  /// needs: control block, marks and items. SIZE_MAX if that overflows.
  static std::size_t region_size(std::size_t capacity) noexcept;

  /// A 16-byte aligned item of n bytes after the newest one, wrapping to the start when the end
  /// is too short; nullptr when there is no contiguous room (counted as full, fragmented or
  /// oversize), or when a shared ring is broken. n == 0 gives a distinct item with no payload
  /// that must be freed like any other. When the ring is empty the next item starts at offset 0.
  [[nodiscard]] void* alloc(std::size_t n) noexcept;

  /// Marks the item free; any thread may call it. Its space returns once every older item is
  /// free too. True if p was a live item; nullptr gives false and counts nothing. Anything else:
  /// see "Double frees" at the top.
  bool free(void* p) noexcept;

  /// Makes item p hold at least n bytes, keeping its address and contents. True when n fits in
  /// the item already, or p is the newest item and the bytes right after it are free (an item
  /// never grows across the end of the region). False leaves p unchanged; a p that is not a live
  /// item is refused (and aborts checked builds).
  [[nodiscard]] bool extend(void* p, std::size_t n) noexcept;

  /// Bytes live item p may hold: its requested size rounded up to `unit` (what extend grants free).
  static std::size_t usable_size(const void* p) noexcept;

  /// Bytes an item of n payload bytes takes in the ring, header included.
  static constexpr std::size_t footprint(std::size_t n) noexcept { return unit + (n + unit - 1) / unit * unit; }

  /// The largest n alloc() can ever satisfy (an empty ring), 0 if the area holds no item.
  std::size_t max_alloc() const noexcept { return capacity() >= unit ? capacity() - unit : 0; }
  /// Bytes of the item area.
  std::size_t capacity() const noexcept;
  /// True when p points at the payload of an item slot inside this ring's item area.
  bool owns(const void* p) const noexcept;

  /// Walks the items between oldest and newest: O(items), for reporting, not the hot path.
  /// Private ring: owner thread only.
  Stats stats() const noexcept;

  // --- Allocator concept ------------------------------------------------------------------------
  [[nodiscard]] void* allocate(std::size_t n) noexcept { return alloc(n); }
  void deallocate(void* p, std::size_t) noexcept { free(p); }

 private:
  /// The state at the start of the region. Offsets and counts only: the same in every process.
  /// The occupied bytes run from tail forward (wrapping at capacity) for used bytes, so
  /// head == (tail + used) % capacity at all times, and head == tail means empty when used == 0
  /// and full when used == capacity. Items never straddle the end of the item area.
  struct Control {
    std::uint64_t capacity = 0;  ///< bytes of the item area, a multiple of `unit` (0: every alloc fails)
    std::uint64_t head = 0;      ///< offset where the next item goes; in [0, capacity)
    std::uint64_t tail = 0;      ///< offset of the oldest item not yet collected; in [0, capacity)
    std::uint64_t used = 0;      ///< bytes from tail to head; in [0, capacity]
    std::uint64_t allocs = 0;
    std::uint64_t failed_full = 0;
    std::uint64_t failed_fragmented = 0;
    std::uint64_t failed_oversize = 0;
    std::uint64_t collected = 0;
    std::uint64_t wraps = 0;
    std::uint64_t extends = 0;
    std::uint64_t failed_extends = 0;
    std::atomic<std::uint64_t> bad_frees{0};  ///< the one counter free() writes, from any thread
    std::uint32_t updating = 0;  ///< shared ring: 1 while a call changes the state above
    std::uint32_t broken = 0;    ///< shared ring: 1 once a call was found to have died mid-update
  };
  struct ItemHeader;
  using Mark = std::atomic<std::uint8_t>;
  enum class Failure { full, fragmented, oversize };
  static constexpr std::size_t control_bytes = (sizeof(Control) + unit - 1) / unit * unit;

  void format(char* start, std::size_t capacity) noexcept;
  void* alloc_private(std::size_t n) noexcept;
  bool extend_private(void* p, std::size_t n) noexcept;
  void* place(std::size_t size, std::size_t n) noexcept;
  void* alloc_slow(std::size_t size, std::size_t n) noexcept;
  void write_skip_item() noexcept;
  void collect() noexcept;
  void* fail(Failure why) noexcept;
  Failure classify(std::size_t size) const noexcept;
  bool refuse_free() noexcept;
  std::size_t room_at_head() const noexcept;
  std::size_t advance(std::size_t offset, std::size_t by) const noexcept;
  std::size_t header_unit(const void* p) const noexcept;
  ItemHeader* header_at(std::size_t offset) const noexcept;
  Mark& mark_at(std::size_t offset) const noexcept;
  bool begin_shared_update() noexcept;
  void end_shared_update() noexcept;
  bool found_broken() const noexcept;
  Stats snapshot() const noexcept;

  Control* ctl_;              ///< the region's control block, or fallback_ for memory too small for one
  Mark* marks_ = nullptr;     ///< marks_[i]: the unit at offset i * unit of the item area
  char* base_ = nullptr;      ///< item area start, `unit`-aligned
  void* owned_ = nullptr;     ///< an owned ring's heap region
  SharedArena* arena_ = nullptr;  ///< a shared ring's arena: its lock guards alloc, extend, stats
  pid_t creator_ = 0;         ///< a shared ring's creating process, which gives the region back
  bool poison_ = false;       ///< ASan poisoning of unused item bytes: owned regions only (shadow
                              ///< memory is per process, so poisoning shared memory misleads others)
  Control fallback_;          ///< the control block of a ring whose memory could not hold one
};

static_assert(Allocator<RingBuffer>);

}  // namespace mempool
