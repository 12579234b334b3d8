#include "mempool/shared_arena.hpp"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <system_error>

#include "mempool/detail/align.hpp"
#include "mempool/detail/check.hpp"
#include "mempool/detail/crash_point.hpp"

// No AddressSanitizer poisoning here: shadow memory is private to each process, so a block one
// process allocates would still look poisoned to the others.

namespace mempool {

namespace {

constexpr std::uint64_t none = std::numeric_limits<std::uint64_t>::max();  ///< end of the free list
constexpr std::uint64_t used_bit = 1;  ///< in BlockHeader::size_and_used: sizes are multiples of 16
constexpr std::uint64_t arena_magic = 0x616e657241726853ull;  // "ShrArena"

}  // namespace

/// The in-region header at the start of the mapping: the whole state of the allocator.
struct detail::SharedArenaControl {
  /// The undo journal, inside the mapping: the old value of every bookkeeping word the current call
  /// has written so far. Empty (count 0) whenever no call is in progress.
  struct Journal {
    /// The most words one call writes is 39, by a realloc that moves: taking and splitting a
    /// block (17), two saved links and two counters, releasing the old block with a merge on
    /// both sides (17), one more counter. Running out is a bug, reported in every build.
    static constexpr std::size_t capacity = 64;
    struct Entry {
      std::uint64_t offset;  ///< of the word, from the start of the mapping
      std::uint64_t old;     ///< its value before the call wrote it
    };
    std::uint64_t count;     ///< entries recorded by the call in progress
    Entry entries[capacity];
  };

  std::uint64_t magic;
  std::uint64_t heap_size;   ///< bytes from heap_ to the end of the last block; a multiple of 16
  std::uint64_t free_head;   ///< offset of the most recently freed block; `none` when no block is free
  std::uint64_t bytes_free;  ///< sum of free block sizes; bytes_free + bytes in use == heap_size
  std::uint64_t free_ranges; ///< free blocks on the list
  std::uint64_t live;        ///< allocated blocks
  std::uint64_t allocs;
  std::uint64_t frees;
  std::uint64_t failures;
  std::uint64_t bad_frees;
  std::uint64_t reallocs_in_place;
  std::uint64_t reallocs_moved;
  std::uint64_t owner_deaths;
  std::uint64_t rollbacks;
  pid_t creator;             ///< the process that made the mutex and destroys it
  pthread_mutex_t mutex;     ///< PTHREAD_PROCESS_SHARED, and PTHREAD_MUTEX_ROBUST unless turned off
  Journal journal;
};

/// The 16 bytes before every block's payload. Physically adjacent blocks are found by size
/// (forward) and prev_size (backward): the boundary tags that make coalescing O(1).
struct SharedArena::BlockHeader {
  std::uint64_t size_and_used;  ///< bytes of the block, header included (a multiple of 16, >= min_block) | used_bit
  std::uint64_t prev_size;      ///< bytes of the block just before this one; 0 for the block at offset 0

  std::uint64_t size() const noexcept { return size_and_used & ~used_bit; }
  bool used() const noexcept { return (size_and_used & used_bit) != 0; }
};

/// Doubly linked free list, kept in the payload of each free block.
struct SharedArena::FreeLinks {
  std::uint64_t next;  ///< offset of the next free block, or `none`
  std::uint64_t prev;  ///< offset of the previous free block, or `none` for the head
};

namespace {

constexpr std::uint64_t header_size = 16;
constexpr std::uint64_t min_block = header_size + 16;  // a free block must hold its FreeLinks
// Where the first block starts: past the Control, on a cache line.
constexpr std::size_t heap_offset = detail::align_up(sizeof(detail::SharedArenaControl), 64);

/// Block bytes for a request of n bytes; n must not exceed the heap size (no overflow).
std::uint64_t block_size_for(std::size_t n) noexcept {
  const std::uint64_t size = header_size + detail::align_up(n, SharedArena::alignment);
  return size < min_block ? min_block : size;
}

}  // namespace

// Helpers used only in this file are `inline`: the library is built with -fPIC, and GCC does not
// inline a global function that could be interposed.

// --- locking and the journal ----------------------------------------------------------------

bool SharedArena::acquire() const noexcept {
  if (options_.lock) {
    if (options_.lock(options_.locker) != 0) return false;
  } else {
    const int rc = pthread_mutex_lock(&ctl_->mutex);
    if (rc == EOWNERDEAD) {
      // A process died holding the lock; the journal below says whether it was mid-update.
      pthread_mutex_consistent(&ctl_->mutex);
      ++ctl_->owner_deaths;
    } else if (rc != 0) {
      return false;
    }
  }
  // Every call empties the journal before it unlocks: entries left mean the holder died mid-call.
  if (ctl_->journal.count != 0) roll_back();
  return true;
}

void SharedArena::release() const noexcept {
  commit();
  if (options_.unlock) {
    options_.unlock(options_.locker);
  } else {
    pthread_mutex_unlock(&ctl_->mutex);
  }
}

void SharedArena::lock() {
  if (!acquire()) throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "SharedArena::lock");
}

void SharedArena::unlock() noexcept { release(); }

// The signal fences order the stores as a signal (here: the process being killed between two
// instructions) would observe them: the entry is complete before it counts, and it counts
// before the word changes. A killed process's stores all reach the shared memory; only their
// order is the compiler's to keep.
inline void SharedArena::save(const std::uint64_t& word) const noexcept {
  Control::Journal& j = ctl_->journal;
  if (j.count == Control::Journal::capacity) {
    detail::contract_failed("SharedArena: journal overflow (a bug in mempool)", __FILE__, __LINE__);
  }
  j.entries[j.count] = {static_cast<std::uint64_t>(reinterpret_cast<const char*>(&word) - map_), word};
  std::atomic_signal_fence(std::memory_order_seq_cst);
  j.count = j.count + 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

inline void SharedArena::put(std::uint64_t& word, std::uint64_t value) const noexcept {
  save(word);
  word = value;
  detail::crash_point();
}

inline void SharedArena::commit() const noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  ctl_->journal.count = 0;
}

// Newest entry first, so a word written twice gets its oldest value back. Idempotent: a process
// that dies here leaves the journal as it was for the next one to undo again.
void SharedArena::roll_back() const noexcept {
  Control::Journal& j = ctl_->journal;
  const std::uint64_t count = j.count < Control::Journal::capacity ? j.count : Control::Journal::capacity;
  for (std::uint64_t i = count; i-- > 0;) {
    const std::uint64_t offset = j.entries[i].offset;
    if (offset % sizeof(std::uint64_t) != 0 || offset > map_size_ - sizeof(std::uint64_t)) continue;
    *reinterpret_cast<std::uint64_t*>(map_ + offset) = j.entries[i].old;
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  j.count = 0;
  ++ctl_->rollbacks;
}

// --- construction -----------------------------------------------------------------------------

namespace {

std::size_t mapping_size(std::size_t capacity) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const std::size_t wanted = capacity < heap_offset + min_block ? heap_offset + min_block : capacity;
  if (wanted > std::numeric_limits<std::size_t>::max() - page) {
    throw std::system_error(std::make_error_code(std::errc::not_enough_memory), "SharedArena: capacity");
  }
  return (wanted + page - 1) / page * page;
}

void init_shared_mutex(pthread_mutex_t* mutex, bool robust) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  // Robust: a worker that crashes holding the lock must not hang every other process.
  if (robust) pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  const int rc = pthread_mutex_init(mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "SharedArena: pthread_mutex_init");
}

}  // namespace

SharedArena::SharedArena(const Options& options) : map_size_(mapping_size(options.capacity)), options_(options) {
  if ((options.lock == nullptr) != (options.unlock == nullptr)) {
    throw std::invalid_argument("SharedArena: give both lock and unlock callbacks, or neither");
  }
  static_assert(sizeof(Control) <= heap_offset, "the header must fit before the first block");
  void* m = mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "SharedArena: mmap");
  map_ = static_cast<char*>(m);
  ctl_ = ::new (map_) Control{};
  heap_ = map_ + heap_offset;
  if (!options_.lock) {
    try {
      init_shared_mutex(&ctl_->mutex, options_.robust);
    } catch (...) {
      munmap(map_, map_size_);
      throw;
    }
  }
  ctl_->magic = arena_magic;
  ctl_->creator = getpid();
  ctl_->heap_size = (map_size_ - heap_offset) & ~std::uint64_t{alignment - 1};
  ctl_->free_head = none;
  *block(0) = BlockHeader{ctl_->heap_size, 0};
  ctl_->bytes_free = ctl_->heap_size;
  push_free(0);
  commit();
}

SharedArena::~SharedArena() {
  if (!options_.lock && getpid() == ctl_->creator) pthread_mutex_destroy(&ctl_->mutex);
  munmap(map_, map_size_);
}

// --- public calls: lock, then the *_locked work ---------------------------------------------

void* SharedArena::alloc(std::size_t n) noexcept {
  Guard guard(*this);
  if (!guard.locked()) return nullptr;
  const std::uint64_t off = alloc_locked(n);
  if (off == none) return nullptr;
  put(ctl_->allocs, ctl_->allocs + 1);
  return heap_ + off + header_size;
}

void* SharedArena::calloc(std::size_t n) noexcept {
  void* p = alloc(n);
  if (p != nullptr) std::memset(p, 0, n);
  return p;
}

void* SharedArena::realloc(void* p, std::size_t n) noexcept {
  if (p == nullptr) return alloc(n);
  void* q;
  bool bad = false;
  {
    Guard guard(*this);
    if (!guard.locked()) return nullptr;
    q = realloc_locked(p, n, bad);
  }
  MEMPOOL_EXPECT(!bad, "SharedArena::realloc: pointer is not a live block of this arena");
  return q;
}

bool SharedArena::free(void* p) noexcept {
  if (p == nullptr) return false;
  FreeResult result;
  {
    Guard guard(*this);
    if (!guard.locked()) return false;
    result = free_locked(p);
  }
  // Reported after unlocking, so an abort here does not leave the other processes a dead owner.
  MEMPOOL_EXPECT(result != FreeResult::double_free, "SharedArena::free: double free");
  MEMPOOL_EXPECT(result != FreeResult::foreign,
                 "SharedArena::free: not a live block of this arena (a foreign pointer, or freed twice and merged)");
  return result == FreeResult::freed;
}

std::size_t SharedArena::available() const noexcept {
  Guard guard(*this);
  return guard.locked() ? ctl_->bytes_free : 0;
}

std::size_t SharedArena::capacity() const noexcept { return ctl_->heap_size; }  // fixed at construction

std::size_t SharedArena::usable_size(const void* p) const noexcept {
  Guard guard(*this);
  if (!guard.locked() || !owns(p)) return 0;
  const std::uint64_t off = offset_of(p);
  return looks_like_block(off) ? block(off)->size() - header_size : 0;
}

bool SharedArena::owns(const void* p) const noexcept {
  const auto c = static_cast<const char*>(p);
  return c >= heap_ + header_size && c < heap_ + ctl_->heap_size;
}

SharedArena::Stats SharedArena::stats() const noexcept {
  Guard guard(*this);
  Stats s;
  if (!guard.locked()) return s;
  s.capacity = ctl_->heap_size;
  s.bytes_free = ctl_->bytes_free;
  s.bytes_in_use = ctl_->heap_size - ctl_->bytes_free;
  s.allocations_live = ctl_->live;
  s.free_ranges = ctl_->free_ranges;
  for (std::uint64_t off = ctl_->free_head; off != none; off = links(off)->next) {
    if (block(off)->size() > s.largest_free) s.largest_free = block(off)->size();
  }
  s.allocs = ctl_->allocs;
  s.frees = ctl_->frees;
  s.failures = ctl_->failures;
  s.bad_frees = ctl_->bad_frees;
  s.reallocs_in_place = ctl_->reallocs_in_place;
  s.reallocs_moved = ctl_->reallocs_moved;
  s.owner_deaths = ctl_->owner_deaths;
  s.rollbacks = ctl_->rollbacks;
  return s;
}

// --- the allocator (lock held) ------------------------------------------------------------------
// Every write to the bookkeeping goes through put(), so a call that dies half way can be undone.

inline std::uint64_t SharedArena::alloc_locked(std::size_t n) noexcept {
  if (n <= ctl_->heap_size) {  // first: keeps block_size_for from overflowing
    const std::uint64_t need = block_size_for(n);
    for (std::uint64_t off = ctl_->free_head; off != none; off = links(off)->next) {
      if (block(off)->size() >= need) {
        take(off, need);
        return off;
      }
    }
  }
  put(ctl_->failures, ctl_->failures + 1);
  return none;
}

inline void SharedArena::take(std::uint64_t off, std::uint64_t need) noexcept {
  unlink_free(off);
  const std::uint64_t size = block(off)->size();
  put(ctl_->bytes_free, ctl_->bytes_free - size);
  put(ctl_->live, ctl_->live + 1);
  set_block(off, size, true);
  shrink(off, need);
}

inline void SharedArena::shrink(std::uint64_t off, std::uint64_t need) noexcept {
  // A remainder too small to hold a free block stays with the allocation.
  const std::uint64_t size = block(off)->size();
  if (size - need < min_block) return;
  set_block(off, need, true);  // also writes the remainder's prev_size
  put(ctl_->bytes_free, ctl_->bytes_free + (size - need));
  release_range(off + need, size - need);
}

inline SharedArena::FreeResult SharedArena::free_locked(void* p) noexcept {
  const std::uint64_t off = offset_of(p);
  FreeResult bad = FreeResult::freed;
  if (!owns(p) || !looks_like_block(off)) {
    bad = FreeResult::foreign;
  } else if (!block(off)->used()) {
    bad = FreeResult::double_free;
  }
  if (bad != FreeResult::freed) {
    put(ctl_->bad_frees, ctl_->bad_frees + 1);
    return bad;
  }
  const std::uint64_t size = block(off)->size();
  put(ctl_->bytes_free, ctl_->bytes_free + size);
  put(ctl_->live, ctl_->live - 1);
  put(ctl_->frees, ctl_->frees + 1);
  release_range(off, size);
  return FreeResult::freed;
}

void* SharedArena::realloc_locked(void* p, std::size_t n, bool& bad) noexcept {
  const std::uint64_t off = offset_of(p);
  if (!owns(p) || !looks_like_block(off) || !block(off)->used()) {
    put(ctl_->bad_frees, ctl_->bad_frees + 1);
    bad = true;
    return nullptr;
  }
  if (n > ctl_->heap_size) {
    put(ctl_->failures, ctl_->failures + 1);
    return nullptr;
  }
  const std::uint64_t need = block_size_for(n);
  const std::uint64_t size = block(off)->size();
  const std::uint64_t next = off + size;
  const bool next_free = next < ctl_->heap_size && !block(next)->used();
  if (need <= size || (next_free && size + block(next)->size() >= need)) {
    if (need > size) {  // absorb the free neighbour, then give back what is not needed
      const std::uint64_t next_size = block(next)->size();
      unlink_free(next);
      put(ctl_->bytes_free, ctl_->bytes_free - next_size);
      clear_header(next);  // a stale header must not pass for a block later
      set_block(off, size + next_size, true);
    }
    shrink(off, need);
    put(ctl_->reallocs_in_place, ctl_->reallocs_in_place + 1);
    return p;
  }
  const std::uint64_t moved = alloc_locked(n);
  if (moved == none) return nullptr;
  // The copy overwrites the new block's old free-list links: journal them, in case this call
  // dies and the block goes back on the list.
  save(links(moved)->next);
  save(links(moved)->prev);
  std::memcpy(heap_ + moved + header_size, p, size - header_size);
  put(ctl_->live, ctl_->live - 1);  // the old block goes; the count of live allocations is unchanged overall
  put(ctl_->bytes_free, ctl_->bytes_free + size);
  release_range(off, size);
  put(ctl_->reallocs_moved, ctl_->reallocs_moved + 1);
  return heap_ + moved + header_size;
}

inline void SharedArena::release_range(std::uint64_t off, std::uint64_t size) noexcept {
  // [off, off + size) is becoming free and block(off)->prev_size is right. Free blocks are never
  // adjacent, so one merge on each side restores the invariant.
  const std::uint64_t next = off + size;
  if (next < ctl_->heap_size && !block(next)->used()) {
    size += block(next)->size();
    unlink_free(next);
    clear_header(next);
  }
  const std::uint64_t prev_size = block(off)->prev_size;
  if (prev_size != 0 && !block(off - prev_size)->used()) {
    unlink_free(off - prev_size);
    clear_header(off);
    off -= prev_size;
    size += prev_size;
  }
  set_block(off, size, false);
  push_free(off);
}

inline void SharedArena::set_block(std::uint64_t off, std::uint64_t size, bool used) noexcept {
  put(block(off)->size_and_used, size | (used ? used_bit : 0));
  if (off + size < ctl_->heap_size) put(block(off + size)->prev_size, size);
}

inline void SharedArena::clear_header(std::uint64_t off) noexcept {
  put(block(off)->size_and_used, 0);
  put(block(off)->prev_size, 0);
}

inline void SharedArena::push_free(std::uint64_t off) noexcept {
  // LIFO: the block just freed is the warmest, and first fit finds it first.
  const std::uint64_t head = ctl_->free_head;
  put(links(off)->next, head);
  put(links(off)->prev, none);
  if (head != none) put(links(head)->prev, off);
  put(ctl_->free_head, off);
  put(ctl_->free_ranges, ctl_->free_ranges + 1);
}

inline void SharedArena::unlink_free(std::uint64_t off) noexcept {
  const FreeLinks l = *links(off);
  if (l.prev != none) {
    put(links(l.prev)->next, l.next);
  } else {
    put(ctl_->free_head, l.next);
  }
  if (l.next != none) put(links(l.next)->prev, l.prev);
  put(ctl_->free_ranges, ctl_->free_ranges - 1);
}

inline bool SharedArena::looks_like_block(std::uint64_t off) const noexcept {
  // Cross-checks the boundary tags on both sides, so a stale or interior pointer is refused.
  if (off % alignment != 0 || off + min_block > ctl_->heap_size) return false;
  const std::uint64_t size = block(off)->size();
  if (size < min_block || size % alignment != 0 || size > ctl_->heap_size - off) return false;
  if (off + size < ctl_->heap_size && block(off + size)->prev_size != size) return false;
  const std::uint64_t prev_size = block(off)->prev_size;
  if (prev_size == 0) return off == 0;
  return prev_size <= off && block(off - prev_size)->size() == prev_size;
}

inline std::uint64_t SharedArena::offset_of(const void* p) const noexcept {
  // Wraps to a huge value for p below the heap: looks_like_block then refuses it.
  return reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(heap_) - header_size;
}

inline SharedArena::BlockHeader* SharedArena::block(std::uint64_t off) const noexcept {
  return reinterpret_cast<BlockHeader*>(heap_ + off);
}

inline SharedArena::FreeLinks* SharedArena::links(std::uint64_t off) const noexcept {
  return reinterpret_cast<FreeLinks*>(heap_ + off + header_size);
}

// --- self-check ---------------------------------------------------------------------------------

bool SharedArena::verify() const noexcept {
  Guard guard(*this);
  if (!guard.locked()) return false;
  // Every block in address order: sane sizes, right boundary tags, never two free neighbours.
  std::uint64_t off = 0, prev_size = 0, free_blocks = 0, free_bytes = 0, used_blocks = 0;
  bool prev_free = false;
  while (off < ctl_->heap_size) {
    const BlockHeader& b = *block(off);
    const std::uint64_t size = b.size();
    if (size < min_block || size % alignment != 0 || size > ctl_->heap_size - off) return false;
    if (b.prev_size != prev_size || (prev_free && !b.used())) return false;
    if (b.used()) {
      ++used_blocks;
    } else {
      ++free_blocks;
      free_bytes += size;
    }
    prev_free = !b.used();
    prev_size = size;
    off += size;
  }
  // The free list: exactly the free blocks, each once, with back links that match.
  std::uint64_t listed = 0, back = none;
  for (off = ctl_->free_head; off != none; off = links(off)->next) {
    if (++listed > free_blocks || !looks_like_block(off) || block(off)->used()) return false;
    if (links(off)->prev != back) return false;
    back = off;
  }
  return listed == free_blocks && free_blocks == ctl_->free_ranges && free_bytes == ctl_->bytes_free &&
         used_blocks == ctl_->live;
}

}  // namespace mempool
