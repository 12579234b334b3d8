/// \file
/// SharedArena: memory shared by the processes forked after it is made (Melon's shm pool and
/// Swoole's shared memory, DESIGN §3.8).
///
/// A fixed-capacity mmap(MAP_SHARED | MAP_ANONYMOUS) region, made before fork(). Everything the
/// allocator knows lives inside the mapping: a first-fit free list of blocks that coalesce with
/// their neighbours (offsets, never pointers), the counters, an undo journal, and a process-shared
/// pthread mutex (robust by default); a process's SharedArena object only caches where the mapping
/// is (DESIGN §5: Swoole and Melon both shipped bugs with private bookkeeping).
/// Thread safety: every call takes the arena's lock, so any thread of any process that shares
/// the mapping may call anything. Lock/unlock callbacks (Melon's mln_alloc_shm_init) may replace
/// the built-in mutex; their lock object must then live in shared memory too.
/// Lifetime: each process's object unmaps its own view when destroyed; the creating process's
/// also destroys the mutex, so it should be the last to go. Pointers are valid in every process
/// that maps the region at the same address (all children of fork() do).
///
/// Failure policy: construction throws std::system_error (mmap returned MAP_FAILED, or the
/// mutex could not be made); every allocating call returns nullptr and never throws; a call whose
/// lock cannot be taken (a lock callback failed) does nothing and returns nullptr, false or zeros.
///
/// A process that dies inside a call. Every write to the bookkeeping is first recorded (old value)
/// in a journal inside the mapping, and the journal is emptied when the call completes. The next
/// caller to take the lock (the robust mutex hands it over with EOWNERDEAD) finds the journal not
/// empty and writes the old values back: the arena is exactly as it was before the dying call,
/// and carries on (stats: owner_deaths, rollbacks). What the dead process had allocated stays
/// allocated: no one can tell it is unused. A process that dies holding lock() for an update of
/// its own leaves the arena whole (no arena call runs under lock()), but what it was updating is
/// the caller's to repair; owner_deaths says it happened. With robust = false a dead holder
/// blocks every later call, and with lock callbacks the journal is undone only if the callbacks
/// hand a dead holder's lock on.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mempool/allocator.hpp"

namespace mempool {

namespace detail {
struct SharedArenaControl;  // the in-region header (shared_arena.cpp)
}

/// How an arena is built.
struct SharedArenaOptions {
  /// Bytes to map, the in-region header included; rounded up to whole pages.
  std::size_t capacity = std::size_t{1} << 20;
  /// Built-in mutex only: PTHREAD_MUTEX_ROBUST, so a process that dies holding the lock does not
  /// hang the others (the next locker recovers it and undoes the dead process's half update).
  /// glibc's robust path roughly doubles the cost of an uncontended lock/unlock; turn it off only
  /// where a crashed worker takes the server down anyway.
  bool robust = true;
  /// Melon-style locking: when both are set they guard every call instead of the built-in
  /// mutex. They return 0 on success; a failure makes the call fail (nullptr, false, zeros).
  void* locker = nullptr;
  int (*lock)(void* locker) = nullptr;
  int (*unlock)(void* locker) = nullptr;
};

/// A snapshot of the arena's counters, taken under its lock. Byte figures count whole blocks,
/// block headers included, so bytes_free + bytes_in_use == capacity at all times.
struct SharedArenaStats {
  std::size_t capacity = 0;            ///< bytes of the heap inside the mapping (what a fresh arena has available)
  std::size_t bytes_free = 0;          ///< in free blocks: available()
  std::size_t bytes_in_use = 0;        ///< in allocated blocks
  std::size_t allocations_live = 0;    ///< allocated blocks
  std::size_t free_ranges = 0;         ///< free blocks (1 when nothing is allocated: all coalesced)
  std::size_t largest_free = 0;        ///< bytes of the largest free block
  std::uint64_t allocs = 0;            ///< successful alloc()/calloc() calls, and realloc(nullptr, n)
  std::uint64_t frees = 0;             ///< successful free() calls
  std::uint64_t failures = 0;          ///< allocations refused: no free block large enough
  std::uint64_t bad_frees = 0;         ///< free()/realloc() of a pointer that is not a live block (double free, foreign pointer)
  std::uint64_t reallocs_in_place = 0; ///< realloc() that kept its address
  std::uint64_t reallocs_moved = 0;    ///< realloc() that allocated, copied and freed
  std::uint64_t owner_deaths = 0;      ///< times a process died holding the mutex and the next one recovered it
  std::uint64_t rollbacks = 0;         ///< updates a dying process left half done, undone by the next caller
  bool operator==(const SharedArenaStats&) const = default;
};

class SharedArena {
 public:
  using Options = SharedArenaOptions;
  using Stats = SharedArenaStats;

  /// Payload alignment; block sizes are multiples of it.
  static constexpr std::size_t alignment = 16;

  explicit SharedArena(std::size_t capacity) : SharedArena(Options{capacity}) {}
  explicit SharedArena(const Options& options);
  ~SharedArena();
  SharedArena(const SharedArena&) = delete;
  SharedArena& operator=(const SharedArena&) = delete;

  /// n bytes, 16-byte aligned, from the first free block that fits; nullptr when none does.
  /// n == 0 gives a distinct minimum block that must be freed like any other.
  [[nodiscard]] void* alloc(std::size_t n) noexcept;
  /// n zeroed bytes.
  [[nodiscard]] void* calloc(std::size_t n) noexcept;
  /// Resizes p to n bytes keeping min(old, n) bytes of contents: in place when shrinking or
  /// when the next block is free and large enough, else allocate, copy, free. nullptr p acts as
  /// alloc(n); n == 0 shrinks to the minimum block (it does not free). nullptr leaves p as it was.
  [[nodiscard]] void* realloc(void* p, std::size_t n) noexcept;
  /// Returns p's block, merged with free neighbours. True if p was a live block; nullptr gives
  /// false and counts nothing. A double free or foreign pointer changes nothing, is counted in
  /// bad_frees and returns false; checked builds then abort with a message.
  bool free(void* p) noexcept;

  /// Bytes in free blocks, headers included (Melon's mln_alloc_available_capacity): equal to
  /// capacity() whenever everything allocated has been freed.
  std::size_t available() const noexcept;
  /// Bytes of the heap inside the mapping.
  std::size_t capacity() const noexcept;
  /// Bytes p may hold (n rounded up, or more when a block was too small to split).
  std::size_t usable_size(const void* p) const noexcept;
  /// p lies inside the heap of this mapping (says nothing of whether it is live).
  bool owns(const void* p) const noexcept;

  /// The arena's lock (BasicLockable), for compound updates of data kept in the arena, such as a
  /// FixedPool formatted inside it. Not recursive: no arena call may be made while holding it.
  /// lock() throws std::system_error if the lock cannot be taken.
  void lock();
  void unlock() noexcept;

  /// The arena's lock held for a scope, without throwing: locked() is false when it could not be
  /// taken (a lock callback failed). What the shared modes of RingBuffer and GlobalArena use.
  class Guard {
   public:
    explicit Guard(const SharedArena& arena) noexcept : arena_(arena), locked_(arena.acquire()) {}
    ~Guard() {
      if (locked_) arena_.release();
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    bool locked() const noexcept { return locked_; }

   private:
    const SharedArena& arena_;
    bool locked_;
  };

  Stats stats() const noexcept;
  /// Walks every block and the free list under the lock and checks every invariant of the
  /// bookkeeping (boundary tags, no two free neighbours, list links, counters). O(blocks): for
  /// tests, and for a supervisor that wants to know after a worker died.
  bool verify() const noexcept;

  // --- Allocator concept ------------------------------------------------------------------------
  [[nodiscard]] void* allocate(std::size_t n) noexcept { return alloc(n); }
  void deallocate(void* p, std::size_t) noexcept { free(p); }

 private:
  using Control = detail::SharedArenaControl;
  struct BlockHeader;
  struct FreeLinks;
  enum class FreeResult { freed, double_free, foreign };

  // Every *_locked function runs with the lock held; offsets count from heap_.
  std::uint64_t alloc_locked(std::size_t n) noexcept;
  FreeResult free_locked(void* p) noexcept;
  void* realloc_locked(void* p, std::size_t n, bool& bad) noexcept;
  void take(std::uint64_t off, std::uint64_t need) noexcept;
  void shrink(std::uint64_t off, std::uint64_t need) noexcept;
  void release_range(std::uint64_t off, std::uint64_t size) noexcept;
  void push_free(std::uint64_t off) noexcept;
  void unlink_free(std::uint64_t off) noexcept;
  void set_block(std::uint64_t off, std::uint64_t size, bool used) noexcept;
  void clear_header(std::uint64_t off) noexcept;
  bool looks_like_block(std::uint64_t off) const noexcept;
  std::uint64_t offset_of(const void* p) const noexcept;
  BlockHeader* block(std::uint64_t off) const noexcept;
  FreeLinks* links(std::uint64_t off) const noexcept;

  // The journal: every write to the bookkeeping goes through put(), which records the old value
  // first; commit() empties the journal when a call completes; roll_back() undoes an update whose
  // process died before its commit.
  void put(std::uint64_t& word, std::uint64_t value) const noexcept;
  void save(const std::uint64_t& word) const noexcept;
  void commit() const noexcept;
  void roll_back() const noexcept;
  bool acquire() const noexcept;
  void release() const noexcept;

  char* map_;               ///< start of the mapping (the Control sits here)
  std::size_t map_size_;    ///< bytes mapped, a multiple of the page size
  Control* ctl_;            ///< == map_: the in-region header, lock and counters
  char* heap_;              ///< first block, a fixed distance after ctl_
  Options options_;         ///< only the lock callbacks are used after construction
};

static_assert(Allocator<SharedArena>);

}  // namespace mempool
