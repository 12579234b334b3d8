#include "mempool/ring_buffer.hpp"

#include <unistd.h>

#include <limits>
#include <new>

#include "mempool/detail/align.hpp"
#include "mempool/detail/check.hpp"
#include "mempool/detail/crash_point.hpp"
#include "mempool/detail/sanitizer.hpp"
#include "mempool/shared_arena.hpp"

namespace mempool {

/// The 16 bytes before every payload, written by the owner only. Whether the item is live lives
/// in its mark, apart from the items, where no payload can forge it.
struct RingBuffer::ItemHeader {
  std::uint64_t size;      ///< bytes of the whole item, this header included; a multiple of unit
  std::uint64_t reserved;  ///< keeps the header at exactly one unit

  char* payload() noexcept { return reinterpret_cast<char*>(this + 1); }
};

namespace {

// What the mark of a unit says. Only the unit where an item starts carries anything but `none`.
constexpr std::uint8_t none = 0;
constexpr std::uint8_t live = 1;   // written by alloc; free() swaps it for `freed`
constexpr std::uint8_t freed = 2;  // collectable
constexpr std::uint8_t skip = 3;   // the unused end before a wrap; collectable

constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();
constexpr std::size_t npos = size_max;
constexpr std::align_val_t region_alignment{64};

std::size_t align_down(std::size_t n, std::size_t align) noexcept { return n & ~(align - 1); }

/// A heap region of `bytes`; SIZE_MAX means the size overflowed. Throws std::bad_alloc either way
/// (asked outright, SIZE_MAX would make sanitizer builds abort rather than throw).
void* allocate_region(std::size_t bytes) {
  if (bytes == size_max) throw std::bad_alloc();
  return ::operator new(bytes, region_alignment);
}

}  // namespace

static_assert(std::atomic<std::uint8_t>::is_always_lock_free && std::atomic<std::uint64_t>::is_always_lock_free,
              "free() must be a plain atomic operation, also on memory shared between processes");

// --- construction -----------------------------------------------------------------------------

std::size_t RingBuffer::region_size(std::size_t capacity) noexcept {
  capacity = align_down(capacity, unit);
  const std::size_t marks = detail::align_up(capacity / unit, unit);
  if (capacity > size_max - control_bytes - marks) return size_max;
  return control_bytes + marks + capacity;
}

RingBuffer::RingBuffer(std::size_t capacity)
    : owned_(allocate_region(region_size(capacity))), poison_(true) {
  format(static_cast<char*>(owned_), align_down(capacity, unit));
  detail::poison(base_, ctl_->capacity);
}

RingBuffer::RingBuffer(void* memory, std::size_t bytes) noexcept : ctl_(&fallback_) {
  char* start = detail::align_pointer(static_cast<char*>(memory), unit);
  const auto pad = static_cast<std::size_t>(start - static_cast<char*>(memory));
  const std::size_t usable = bytes > pad ? bytes - pad : 0;
  if (usable < control_bytes) return;  // capacity 0: every alloc fails, counted in fallback_
  // Each unit of items costs its 16 bytes plus one mark; the marks are rounded up to a unit,
  // which may cost the last unit back (16u + align_up(u, 16) <= 17u + 15).
  std::size_t units = (usable - control_bytes) / (unit + 1);
  if (units * unit + detail::align_up(units, unit) > usable - control_bytes) --units;
  format(start, units * unit);
}

RingBuffer::RingBuffer(SharedArena& arena, std::size_t capacity) : arena_(&arena), creator_(getpid()) {
  const std::size_t bytes = region_size(capacity);
  void* region = bytes == size_max ? nullptr : arena.alloc(bytes);
  if (region == nullptr) throw std::bad_alloc();
  format(static_cast<char*>(region), align_down(capacity, unit));
}

RingBuffer::~RingBuffer() {
  if (owned_ != nullptr) {
    detail::unpoison(base_, ctl_->capacity);
    ::operator delete(owned_, region_alignment);
  } else if (arena_ != nullptr && getpid() == creator_) {
    arena_->free(ctl_);
  }
}

void RingBuffer::format(char* start, std::size_t capacity) noexcept {
  ctl_ = ::new (start) Control{};
  ctl_->capacity = capacity;
  marks_ = reinterpret_cast<Mark*>(start + control_bytes);
  for (std::size_t i = 0; i < capacity / unit; ++i) ::new (&marks_[i]) Mark(none);
  base_ = start + control_bytes + detail::align_up(capacity / unit, unit);
}

std::size_t RingBuffer::capacity() const noexcept { return ctl_->capacity; }

// --- allocation -------------------------------------------------------------------------------
// Helpers used only in this file are `inline`: the library is built with -fPIC, and GCC does not
// inline a global function that could be interposed, which cost the fast path half its speed.

void* RingBuffer::alloc(std::size_t n) noexcept {
  if (arena_ == nullptr) return alloc_private(n);
  SharedArena::Guard guard(*arena_);
  if (!guard.locked() || !begin_shared_update()) return nullptr;
  void* p = alloc_private(n);
  end_shared_update();
  return p;
}

inline void* RingBuffer::alloc_private(std::size_t n) noexcept {
  // n > capacity first: it keeps footprint(n) from overflowing for absurd n.
  if (n > ctl_->capacity || footprint(n) > ctl_->capacity) return fail(Failure::oversize);
  const std::size_t size = footprint(n);
  // Collect eagerly: one load of the oldest mark, and an emptied ring restarts at offset 0,
  // where the cache lines are still warm.
  if (ctl_->used != 0) collect();
  if (size <= room_at_head()) return place(size, n);
  return alloc_slow(size, n);
}

void* RingBuffer::alloc_slow(std::size_t size, std::size_t n) noexcept {
  // Not wrapped (head ahead of tail): the end is too short, so try the start, [0, tail).
  // Wrap only when the item then fits: a failed alloc leaves the ring exactly as it was.
  const bool head_ahead = ctl_->used != ctl_->capacity && ctl_->head > ctl_->tail;
  if (head_ahead && size <= ctl_->tail) {
    write_skip_item();
    return place(size, n);
  }
  return fail(classify(size));
}

inline void* RingBuffer::place(std::size_t size, std::size_t n) noexcept {
  auto* h = header_at(ctl_->head);
  if (poison_) detail::unpoison(h, unit + n);
  ::new (h) ItemHeader{size, 0};
  // Relaxed: whoever frees the item got the pointer from this thread through a synchronising
  // hand-over, which orders this store before its load of the mark.
  mark_at(ctl_->head).store(live, std::memory_order_relaxed);
  ctl_->head = advance(ctl_->head, size);
  ctl_->used += size;
  ++ctl_->allocs;
  return h->payload();
}

void RingBuffer::write_skip_item() noexcept {
  // head < capacity and both are multiples of unit, so the remainder holds at least a header.
  const std::size_t rest = ctl_->capacity - ctl_->head;
  auto* h = header_at(ctl_->head);
  if (poison_) detail::unpoison(h, unit);
  ::new (h) ItemHeader{rest, 0};
  mark_at(ctl_->head).store(skip, std::memory_order_relaxed);
  ctl_->used += rest;
  ctl_->head = 0;
  ++ctl_->wraps;
}

inline void RingBuffer::collect() noexcept {
  while (ctl_->used != 0) {
    Mark& mark = mark_at(ctl_->tail);
    // Acquire pairs with free()'s release: the freeing thread is done with the bytes we reuse.
    if (mark.load(std::memory_order_acquire) == live) break;
    const std::size_t size = header_at(ctl_->tail)->size;
    mark.store(none, std::memory_order_relaxed);  // from now on a stale pointer here finds nothing
    if (poison_) detail::poison(header_at(ctl_->tail), unit);
    ctl_->tail = advance(ctl_->tail, size);
    ctl_->used -= size;
    ++ctl_->collected;
  }
  if (ctl_->used == 0) ctl_->head = ctl_->tail = 0;
}

inline std::size_t RingBuffer::room_at_head() const noexcept {
  if (ctl_->used == ctl_->capacity) return 0;
  return ctl_->head >= ctl_->tail ? ctl_->capacity - ctl_->head : ctl_->tail - ctl_->head;
}

inline std::size_t RingBuffer::advance(std::size_t offset, std::size_t by) const noexcept {
  offset += by;
  return offset == ctl_->capacity ? 0 : offset;
}

inline RingBuffer::ItemHeader* RingBuffer::header_at(std::size_t offset) const noexcept {
  static_assert(sizeof(ItemHeader) == unit, "a header is one unit, so a skip item fits any remainder");
  return reinterpret_cast<ItemHeader*>(base_ + offset);
}

inline RingBuffer::Mark& RingBuffer::mark_at(std::size_t offset) const noexcept { return marks_[offset / unit]; }

// --- failure accounting -----------------------------------------------------------------------

void* RingBuffer::fail(Failure why) noexcept {
  switch (why) {
    case Failure::full: ++ctl_->failed_full; break;
    case Failure::fragmented: ++ctl_->failed_fragmented; break;
    case Failure::oversize: ++ctl_->failed_oversize; break;
  }
  return nullptr;
}

RingBuffer::Failure RingBuffer::classify(std::size_t size) const noexcept {
  // Slow path only: walk the occupied span and add up what live items really hold.
  std::size_t live_bytes = 0;
  for (std::size_t off = ctl_->tail, seen = 0; seen < ctl_->used;) {
    const std::size_t item = header_at(off)->size;
    if (mark_at(off).load(std::memory_order_relaxed) == live) live_bytes += item;
    seen += item;
    off = advance(off, item);
  }
  return ctl_->capacity - live_bytes >= size ? Failure::fragmented : Failure::full;
}

// --- free and extend --------------------------------------------------------------------------

// Unsigned arithmetic: a pointer below the area wraps to a huge offset and fails the range test.
inline std::size_t RingBuffer::header_unit(const void* p) const noexcept {
  const std::uintptr_t off = reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(base_);
  if (off < unit || off > ctl_->capacity || off % unit != 0) return npos;
  return off / unit - 1;
}

bool RingBuffer::owns(const void* p) const noexcept { return header_unit(p) != npos; }

bool RingBuffer::free(void* p) noexcept {
  if (p == nullptr) return false;
  const std::size_t i = header_unit(p);
  if (i == npos || marks_[i].load(std::memory_order_relaxed) != live) return refuse_free();
  // The header is read only once the mark says live: the owner does not touch a live item's header.
  if (poison_) detail::poison(p, static_cast<ItemHeader*>(p)[-1].size - unit);
  // A plain store, not a compare-and-swap (a locked instruction on every free): while
  // the mark says live, nobody but the item's holder may change it. Release pairs with collect()'s
  // acquire: the bytes are ours until the store, the owner's after.
  marks_[i].store(freed, std::memory_order_release);
  return true;
}

bool RingBuffer::refuse_free() noexcept {
  // Counted first, so the event is on record (in the region) even when the check aborts.
  ctl_->bad_frees.fetch_add(1, std::memory_order_relaxed);
  MEMPOOL_EXPECT(false, "RingBuffer::free: double free, or not the start of a live item");
  return false;
}

std::size_t RingBuffer::usable_size(const void* p) noexcept {
  return static_cast<const ItemHeader*>(p)[-1].size - unit;
}

bool RingBuffer::extend(void* p, std::size_t n) noexcept {
  if (arena_ == nullptr) return extend_private(p, n);
  SharedArena::Guard guard(*arena_);
  if (!guard.locked() || !begin_shared_update()) return false;
  const bool grown = extend_private(p, n);
  end_shared_update();
  return grown;
}

bool RingBuffer::extend_private(void* p, std::size_t n) noexcept {
  const std::size_t i = header_unit(p);
  if (i == npos || marks_[i].load(std::memory_order_relaxed) != live) {
    ++ctl_->failed_extends;
    MEMPOOL_EXPECT(false, "RingBuffer::extend: not a live item of this ring");
    return false;
  }
  auto* h = static_cast<ItemHeader*>(p) - 1;
  if (n <= h->size - unit) {
    if (poison_) detail::unpoison(p, n);
    ++ctl_->extends;
    return true;
  }
  // Only the newest item ends at head; one that ends at the area's end has head == 0 and
  // cannot grow (it would straddle the end).
  const std::size_t end = i * unit + h->size;
  if (n > ctl_->capacity || end != ctl_->head) return ++ctl_->failed_extends, false;
  const std::size_t grow = footprint(n) - h->size;
  if (grow > room_at_head()) collect();
  if (grow > room_at_head()) return ++ctl_->failed_extends, false;
  h->size += grow;
  ctl_->head = advance(ctl_->head, grow);
  ctl_->used += grow;
  if (poison_) detail::unpoison(p, n);
  ++ctl_->extends;
  return true;
}

// --- the shared ring's crash policy -----------------------------------------------------------
// `updating` brackets every change; only a process that died in between leaves it set. The ring
// cannot tell how far such a change got, so it stops handing out memory rather than guess.

bool RingBuffer::begin_shared_update() noexcept {
  if (found_broken()) ctl_->broken = 1;
  if (ctl_->broken != 0) return false;
  ctl_->updating = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // set before any change, as a kill would see it
  return true;
}

void RingBuffer::end_shared_update() noexcept {
  detail::crash_point();  // the last instant a dying process leaves the update unfinished
  std::atomic_signal_fence(std::memory_order_seq_cst);
  ctl_->updating = 0;
}

bool RingBuffer::found_broken() const noexcept { return ctl_->broken != 0 || ctl_->updating != 0; }

// --- stats ------------------------------------------------------------------------------------

RingBuffer::Stats RingBuffer::stats() const noexcept {
  if (arena_ == nullptr) return snapshot();
  SharedArena::Guard guard(*arena_);
  if (!guard.locked()) return Stats{.capacity = ctl_->capacity};
  if (found_broken()) return Stats{.capacity = ctl_->capacity, .allocs = ctl_->allocs, .broken = true};  // no walk over half-made state
  return snapshot();
}

RingBuffer::Stats RingBuffer::snapshot() const noexcept {
  Stats s;
  s.capacity = ctl_->capacity;
  s.bytes_used = ctl_->used;
  for (std::size_t off = ctl_->tail, seen = 0; seen < ctl_->used;) {
    const std::size_t item = header_at(off)->size;
    if (mark_at(off).load(std::memory_order_acquire) == live) {
      ++s.items_live;
      s.bytes_live += item;
    }
    seen += item;
    off = advance(off, item);
  }
  s.allocs = ctl_->allocs;
  s.frees = ctl_->allocs - s.items_live;
  s.bad_frees = ctl_->bad_frees.load(std::memory_order_relaxed);
  s.failed_full = ctl_->failed_full;
  s.failed_fragmented = ctl_->failed_fragmented;
  s.failed_oversize = ctl_->failed_oversize;
  s.collected = ctl_->collected;
  s.wraps = ctl_->wraps;
  s.extends = ctl_->extends;
  s.failed_extends = ctl_->failed_extends;
  return s;
}

}  // namespace mempool
