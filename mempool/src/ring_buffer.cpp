#include "mempool/ring_buffer.hpp"

#include <atomic>
#include <new>

#include "mempool/detail/align.hpp"
#include "mempool/detail/check.hpp"
#include "mempool/detail/sanitizer.hpp"

namespace mempool {

/// The 16 bytes before every payload. Only `state` is touched by other threads.
struct RingBuffer::ItemHeader {
  // Distinct magic words rather than 0/1, so a stray pointer rarely looks like a live item.
  static constexpr std::uint32_t live = 0x6576696c;  // "live"
  static constexpr std::uint32_t freed = 0x65657266; // "free"
  static constexpr std::uint32_t skip = 0x70696b73;  // "skip": the unused end before a wrap

  std::uint64_t size;                 ///< bytes of the whole item, this header included; a multiple of unit
  std::atomic<std::uint32_t> state;   ///< live, freed or skip; freed is stored with release by free()
  std::uint32_t reserved = 0;         ///< keeps the header at exactly one unit

  char* payload() noexcept { return reinterpret_cast<char*>(this + 1); }
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "free() must be a plain atomic store");

namespace {

constexpr std::align_val_t region_alignment{RingBuffer::unit};

std::size_t align_down(std::size_t n, std::size_t align) noexcept { return n & ~(align - 1); }

}  // namespace

RingBuffer::RingBuffer(std::size_t capacity)
    : base_(static_cast<char*>(::operator new(align_down(capacity, unit), region_alignment))),
      capacity_(align_down(capacity, unit)),
      owned_(true) {
  detail::poison(base_, capacity_);
}

RingBuffer::RingBuffer(void* memory, std::size_t bytes) noexcept : owned_(false) {
  char* start = static_cast<char*>(memory);
  const std::size_t pad = detail::padding_for(start, unit);
  base_ = start + pad;
  capacity_ = bytes > pad ? align_down(bytes - pad, unit) : 0;
  detail::poison(base_, capacity_);
}

RingBuffer::~RingBuffer() {
  detail::unpoison(base_, capacity_);  // the caller's memory goes back usable
  if (owned_) ::operator delete(base_, region_alignment);
}

// --- allocation -------------------------------------------------------------------------------
// Helpers used only in this file are `inline`: the library is built with -fPIC, and GCC does not
// inline a global function that could be interposed, which cost the fast path half its speed.

void* RingBuffer::alloc(std::size_t n) noexcept {
  // n > capacity_ first: it keeps footprint(n) from overflowing for absurd n.
  if (n > capacity_ || footprint(n) > capacity_) return fail(Failure::oversize);
  const std::size_t size = footprint(n);
  // Collect eagerly: one load of the oldest header, and an emptied ring restarts at offset 0,
  // where the cache lines are still warm.
  if (used_ != 0) collect();
  if (size <= room_at_head()) return place(size, n);
  return alloc_slow(size, n);
}

void* RingBuffer::alloc_slow(std::size_t size, std::size_t n) noexcept {
  // Not wrapped (head ahead of tail): the end is too short, so try the start, [0, tail_).
  // Wrap only when the item then fits: a failed alloc leaves the ring exactly as it was.
  const bool head_ahead = used_ != capacity_ && head_ > tail_;
  if (head_ahead && size <= tail_) {
    write_skip_item();
    return place(size, n);
  }
  return fail(classify(size));
}

inline void* RingBuffer::place(std::size_t size, std::size_t n) noexcept {
  auto* h = header_at(head_);
  detail::unpoison(h, unit + n);
  ::new (h) ItemHeader{size, {ItemHeader::live}};
  head_ = advance(head_, size);
  used_ += size;
  ++allocs_;
  return h->payload();
}

void RingBuffer::write_skip_item() noexcept {
  // head_ < capacity_ and both are multiples of unit, so the remainder holds at least a header.
  const std::size_t rest = capacity_ - head_;
  auto* h = header_at(head_);
  detail::unpoison(h, unit);
  ::new (h) ItemHeader{rest, {ItemHeader::skip}};
  used_ += rest;
  head_ = 0;
  ++wraps_;
}

inline void RingBuffer::collect() noexcept {
  while (used_ != 0) {
    ItemHeader* h = header_at(tail_);
    // Acquire pairs with free()'s release: the freeing thread is done with the bytes we reuse.
    if (h->state.load(std::memory_order_acquire) == ItemHeader::live) break;
    const std::size_t size = h->size;
    detail::poison(h, unit);
    tail_ = advance(tail_, size);
    used_ -= size;
    ++collected_;
  }
  if (used_ == 0) head_ = tail_ = 0;
}

inline std::size_t RingBuffer::room_at_head() const noexcept {
  if (used_ == capacity_) return 0;
  return head_ >= tail_ ? capacity_ - head_ : tail_ - head_;
}

inline std::size_t RingBuffer::advance(std::size_t offset, std::size_t by) const noexcept {
  offset += by;
  return offset == capacity_ ? 0 : offset;
}

inline RingBuffer::ItemHeader* RingBuffer::header_at(std::size_t offset) const noexcept {
  static_assert(sizeof(ItemHeader) == unit, "a header is one unit, so a skip item fits any remainder");
  return reinterpret_cast<ItemHeader*>(base_ + offset);
}

// --- failure accounting -----------------------------------------------------------------------

void* RingBuffer::fail(Failure why) noexcept {
  switch (why) {
    case Failure::full: ++failed_full_; break;
    case Failure::fragmented: ++failed_fragmented_; break;
    case Failure::oversize: ++failed_oversize_; break;
  }
  return nullptr;
}

RingBuffer::Failure RingBuffer::classify(std::size_t size) const noexcept {
  // Slow path only: walk the occupied span and add up what live items really hold.
  std::size_t live_bytes = 0;
  for (std::size_t off = tail_, seen = 0; seen < used_;) {
    const ItemHeader* h = header_at(off);
    if (h->state.load(std::memory_order_relaxed) == ItemHeader::live) live_bytes += h->size;
    seen += h->size;
    off = advance(off, h->size);
  }
  return capacity_ - live_bytes >= size ? Failure::fragmented : Failure::full;
}

// --- free and extend --------------------------------------------------------------------------

bool RingBuffer::owns(const void* p) const noexcept {
  const auto* c = static_cast<const char*>(p);
  return c >= base_ + unit && c <= base_ + capacity_ && detail::is_aligned(c, unit);
}

void RingBuffer::free(void* p) noexcept {
  if (p == nullptr) return;
  MEMPOOL_EXPECT(owns(p), "RingBuffer::free: pointer is not an item of this ring");
  auto* h = static_cast<ItemHeader*>(p) - 1;
  MEMPOOL_EXPECT(h->state.load(std::memory_order_relaxed) == ItemHeader::live,
                 "RingBuffer::free: double free, or not the start of an item");
  detail::poison(p, h->size - unit);
  h->state.store(ItemHeader::freed, std::memory_order_release);
}

std::size_t RingBuffer::usable_size(const void* p) noexcept {
  return static_cast<const ItemHeader*>(p)[-1].size - unit;
}

bool RingBuffer::extend(void* p, std::size_t n) noexcept {
  MEMPOOL_EXPECT(owns(p), "RingBuffer::extend: pointer is not an item of this ring");
  auto* h = static_cast<ItemHeader*>(p) - 1;
  MEMPOOL_EXPECT(h->state.load(std::memory_order_relaxed) == ItemHeader::live,
                 "RingBuffer::extend: item is not live");
  if (n <= h->size - unit) {
    detail::unpoison(p, n);
    ++extends_;
    return true;
  }
  // Only the newest item ends at head_; one that ends at the region's end has head_ == 0 and
  // cannot grow (it would straddle the end).
  const auto end = static_cast<std::size_t>(reinterpret_cast<char*>(h) - base_) + h->size;
  if (n > capacity_ || end != head_) return ++failed_extends_, false;
  const std::size_t grow = footprint(n) - h->size;
  if (grow > room_at_head()) collect();
  if (grow > room_at_head()) return ++failed_extends_, false;
  h->size += grow;
  head_ = advance(head_, grow);
  used_ += grow;
  detail::unpoison(p, n);
  ++extends_;
  return true;
}

// --- stats ------------------------------------------------------------------------------------

RingBuffer::Stats RingBuffer::stats() const noexcept {
  Stats s;
  s.capacity = capacity_;
  s.bytes_used = used_;
  for (std::size_t off = tail_, seen = 0; seen < used_;) {
    const ItemHeader* h = header_at(off);
    if (h->state.load(std::memory_order_acquire) == ItemHeader::live) {
      ++s.items_live;
      s.bytes_live += h->size;
    }
    seen += h->size;
    off = advance(off, h->size);
  }
  s.allocs = allocs_;
  s.frees = allocs_ - s.items_live;
  s.failed_full = failed_full_;
  s.failed_fragmented = failed_fragmented_;
  s.failed_oversize = failed_oversize_;
  s.collected = collected_;
  s.wraps = wraps_;
  s.extends = extends_;
  s.failed_extends = failed_extends_;
  return s;
}

}  // namespace mempool
