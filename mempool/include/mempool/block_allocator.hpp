/// \file
/// BlockAllocator: where pools get their memory (APR's apr_allocator_t, DESIGN §3.1).
///
/// Hands out blocks whose sizes are multiples of 4 KiB and keeps returned blocks on free lists
/// indexed by size, so a pool that is reset or destroyed gives its blocks to the next pool without
/// touching the heap. `max_free` caps the bytes kept; past it, returned blocks go back to the OS
/// (APR's apr_allocator_max_free_set, httpd's MaxMemFree; default 2 MiB, DESIGN §5).
///
/// Thread safety: single-owner by default (one allocator per reactor, no locks): the owner (the
/// constructing thread, or the last to call adopt_current_thread()) allocates and frees; any other
/// thread may free too (a pool released elsewhere) and may allocate. A foreign free is pushed on a
/// lock-free list the owner takes back at its next allocation; a foreign allocation goes straight
/// to the OS. trim() and set_max_free() walk the owner's lists, so on a single-owner allocator
/// another thread's call is refused: it returns false and changes nothing. stats() is safe from
/// any thread at any time. With `Options::thread_safe` one mutex guards every call instead, for an
/// allocator shared by threads, and every call works from every thread.
/// Lifetime: every block must come back before the allocator dies; one that dies with blocks
/// still out says so on stderr (and the memory of those blocks is leaked, not freed under them).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <thread>

#include "mempool/allocator.hpp"

namespace mempool {

/// Header at the start of every block. The allocator owns `next` and `size`; the rest of the
/// block (from `data()`) belongs to whoever holds the block.
struct MemoryBlock {
  MemoryBlock* next = nullptr;  ///< free-list link while free; the holder's list link while held
  std::size_t size = 0;         ///< bytes of the whole block, this header included; a multiple of page_size

  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
  char* end() noexcept { return reinterpret_cast<char*>(this) + size; }
  std::size_t capacity() const noexcept { return size - sizeof(MemoryBlock); }
};
static_assert(sizeof(MemoryBlock) == 16, "block payload must stay 16-byte aligned");

/// Counters of one allocator. All byte figures are whole blocks, headers included. Read from
/// another thread while the owner works, each field is exact at some instant of the read, and
/// the fields still agree: bytes_in_use never goes below zero, os_frees never exceeds os_allocs.
struct BlockAllocatorStats {
  std::size_t bytes_in_use = 0;    ///< held by callers right now
  std::size_t bytes_free = 0;      ///< kept on the free lists (<= max_free)
  std::size_t max_free = 0;        ///< the cap on bytes_free
  std::uint64_t blocks_reused = 0; ///< allocations served from a free list
  std::uint64_t os_allocs = 0;     ///< blocks obtained from the OS (malloc), other threads' included
  std::uint64_t os_frees = 0;      ///< blocks handed back to the OS
  std::uint64_t os_failures = 0;   ///< times the OS refused a block
  std::uint64_t foreign_frees = 0; ///< blocks returned by a thread other than the owner
  bool operator==(const BlockAllocatorStats&) const = default;
};

class BlockAllocator {
 public:
  static constexpr std::size_t page_size = 4096;
  /// free_lists_[i] holds blocks of exactly (i + 1) pages; bigger blocks go to the sink list.
  static constexpr std::size_t indexed_lists = 32;
  static constexpr std::size_t default_max_free = std::size_t{2} << 20;
  static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

  struct Options {
    std::size_t max_free = default_max_free;  ///< bytes kept on free lists; `unlimited` keeps all, 0 keeps none
    bool thread_safe = false;                 ///< guard every call with a mutex
  };

  BlockAllocator() : BlockAllocator(Options{}) {}
  explicit BlockAllocator(Options options) noexcept;
  ~BlockAllocator();
  BlockAllocator(const BlockAllocator&) = delete;
  BlockAllocator& operator=(const BlockAllocator&) = delete;

  /// A block with at least `min_capacity` bytes after its header, or nullptr if the OS refuses.
  /// Its size is the smallest multiple of page_size that fits (a sink block may be larger).
  [[nodiscard]] MemoryBlock* allocate_block(std::size_t min_capacity) noexcept;

  /// Takes a block back: onto its free list while under max_free, else back to the OS.
  void deallocate_block(MemoryBlock* block) noexcept;

  /// Hands every free block back to the OS (APR keeps no such call; h2o trims on a timer).
  /// False, and nothing done, when refused: a thread other than the owner of a single-owner
  /// allocator.
  bool trim() noexcept;

  /// Changes the cap; blocks already kept beyond a lower cap are released at once. False, and
  /// nothing changed, when refused (as trim()).
  bool set_max_free(std::size_t bytes) noexcept;

  /// A snapshot of the counters; any thread, any time (see BlockAllocatorStats).
  BlockAllocatorStats stats() const noexcept;

  /// Allocator concept: the payload of a block of at least n bytes / give it back.
  [[nodiscard]] void* allocate(std::size_t n) noexcept;
  void deallocate(void* p, std::size_t n) noexcept;

  /// Makes the calling thread the owner (an allocator built on one thread for another).
  void adopt_current_thread() noexcept { owner_ = std::this_thread::get_id(); }
  bool thread_safe() const noexcept { return thread_safe_; }

  /// The process-wide thread-safe allocator used by pools constructed without one.
  static BlockAllocator& shared_default() noexcept;

  /// Block size (header included) that gives at least `min_capacity` usable bytes.
  static constexpr std::size_t block_size_for(std::size_t min_capacity) noexcept {
    return (min_capacity + sizeof(MemoryBlock) + page_size - 1) / page_size * page_size;
  }

 private:
  /// A counter that stats() may read from any thread. It has one writer at a time (the owner, or
  /// the holder of mutex_), so an update is a plain load and store; release stores and acquire
  /// loads let a reader that sees a decrease-side total (bytes returned, OS frees) also see the
  /// increases it came after.
  class Counter {
   public:
    std::uint64_t get() const noexcept { return value_.load(std::memory_order_acquire); }
    void set(std::uint64_t v) noexcept { value_.store(v, std::memory_order_release); }
    void add(std::uint64_t n) noexcept { set(value_.load(std::memory_order_relaxed) + n); }
    void sub(std::uint64_t n) noexcept { set(value_.load(std::memory_order_relaxed) - n); }

   private:
    std::atomic<std::uint64_t> value_{0};
  };

  /// The mutex to take: only when shared.
  std::mutex* lock() const noexcept { return thread_safe_ ? &mutex_ : nullptr; }

  MemoryBlock* take_from_free_lists(std::size_t size) noexcept;
  MemoryBlock* allocate_from_os(std::size_t size) noexcept;
  MemoryBlock* allocate_foreign(std::size_t size) noexcept;
  void keep_or_release(MemoryBlock* block) noexcept;
  void release_to_os(MemoryBlock* block) noexcept;
  void release_beyond(std::size_t cap) noexcept;
  bool foreign_thread() const noexcept { return !thread_safe_ && owner_ != std::this_thread::get_id(); }
  void push_foreign_free(MemoryBlock* block) noexcept;
  void take_foreign_frees() noexcept;
  std::size_t bytes_in_use() const noexcept;

  std::array<MemoryBlock*, indexed_lists> free_lists_{};
  MemoryBlock* sink_ = nullptr;  ///< blocks over indexed_lists pages, unsorted, best fit (the first of the smallest)
  bool thread_safe_;
  std::thread::id owner_;
  mutable std::mutex mutex_;                              ///< used only when thread_safe_
  std::atomic<MemoryBlock*> foreign_frees_{nullptr};       ///< blocks other threads returned, newest first

  // The owner's books. Monotonic totals, so nothing wraps: bytes in use = taken - returned.
  Counter bytes_taken_;     ///< bytes of every block handed out by the owner (free lists or OS)
  Counter bytes_returned_;  ///< bytes of every block taken back (foreign frees once taken in)
  Counter bytes_free_;      ///< bytes on the free lists now (<= max_free_)
  Counter max_free_;
  Counter blocks_reused_;
  Counter os_allocs_;
  Counter os_frees_;
  Counter os_failures_;
  Counter foreign_frees_taken_;
  // Other threads' allocations (straight from the OS), updated with atomic adds.
  std::atomic<std::uint64_t> foreign_bytes_taken_{0};
  std::atomic<std::uint64_t> foreign_os_allocs_{0};
  std::atomic<std::uint64_t> foreign_os_failures_{0};
};

static_assert(Allocator<BlockAllocator>);

}  // namespace mempool
