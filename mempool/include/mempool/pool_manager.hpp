/// \file
/// PoolManager: recycled pools (FreeSWITCH's memory manager, DESIGN §3.3 and §5).
///
/// acquire() hands out a pool from the idle list, or a new one; releasing the handle resets the
/// pool and keeps it for the next acquire, up to `max_idle` pools and `max_idle_bytes` of their
/// blocks; beyond that the pool is destroyed. So connections come and go without the heap.
///
/// Thread safety. Immediate mode (default): the manager belongs to its owner thread (the
/// constructing thread, one manager per reactor; adopt_current_thread() moves it) and takes no
/// locks, so every call except a handle's release is made on the owner, or on another thread only
/// while the owner makes none (the main thread reclaiming or destroying a reactor's manager after
/// the reactor's thread ended). A handle may be released on any thread at any time: the pool is
/// reset there (its cleanups run on the releasing thread) and handed back through a lock-free
/// list that the next acquire(), reclaim(), drain() or stop() takes in, whichever thread makes it.
/// Deferred mode (FreeSWITCH's pool thread): every call from any thread; released pools run their
/// cleanups on the releasing thread, then go to a bounded queue that a background thread resets
/// and recycles; a full queue falls back to doing it on the releasing thread. Deferred mode takes
/// a mutex on every call.
/// Lifetime: every handle must be released before the manager dies; a manager that dies with
/// pools outstanding reports them (tags, and their allocation sites in MEMPOOL_DEBUG builds).
/// stop() (which the destructor calls) settles every pool released so far, and a release after it
/// destroys its pool (one released on another thread in immediate mode once taken in, at the
/// latest by the destructor): none is left queued or unclaimed to leak or stay counted outstanding.
/// Failure policy: acquire() returns an empty handle when a new pool cannot be allocated; no other
/// call fails.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "mempool/block_allocator.hpp"
#include "mempool/pool.hpp"

namespace mempool {

struct PoolManagerOptions {
  /// Where every pool's blocks come from. nullptr: an allocator of the manager's own.
  BlockAllocator* allocator = nullptr;
  /// How each pool is built (its `allocator` field is replaced by the one above).
  PoolOptions pool = {};
  /// Pools kept for reuse; more are destroyed when released.
  std::size_t max_idle = 256;
  /// Block bytes the idle pools may hold together; a pool that would pass it is destroyed.
  std::size_t max_idle_bytes = std::size_t{4} << 20;
  /// Reset and recycle released pools on a background thread.
  bool deferred = false;
  /// Deferred mode: released pools waiting for the thread; when full, the releaser does the work.
  std::size_t queue_capacity = 1024;
};

struct PoolManagerStats {
  std::uint64_t created = 0;     ///< pools built
  std::uint64_t reused = 0;      ///< acquires served from the idle list
  std::uint64_t released = 0;    ///< handles given back (immediate mode, released on another thread: once the owner takes the pool in)
  std::uint64_t destroyed = 0;   ///< pools deleted: over the caps, trimmed, reclaimed or at stop
  std::uint64_t foreign_releases = 0;   ///< released on a thread other than the owner
  std::uint64_t deferred_fallbacks = 0; ///< deferred mode: queue full, recycled by the releaser
  std::size_t idle = 0;          ///< pools waiting for reuse
  std::size_t idle_bytes = 0;    ///< block bytes they hold
  std::size_t outstanding = 0;   ///< acquired and not yet given back (as `released`): a leak detector for the server
  bool operator==(const PoolManagerStats&) const = default;
};

class PoolManager {
  struct Slot;

 public:
  using Options = PoolManagerOptions;
  using Stats = PoolManagerStats;

  /// An acquired pool; releases it when destroyed. Move-only, like unique_ptr.
  class Handle {
   public:
    Handle() noexcept = default;
    Handle(Handle&& other) noexcept : slot_(std::exchange(other.slot_, nullptr)) {}
    Handle& operator=(Handle&& other) noexcept {
      if (this != &other) {
        release();
        slot_ = std::exchange(other.slot_, nullptr);
      }
      return *this;
    }
    ~Handle() { release(); }

    Pool* get() const noexcept;
    Pool* operator->() const noexcept { return get(); }
    Pool& operator*() const noexcept { return *get(); }
    explicit operator bool() const noexcept { return slot_ != nullptr; }
    /// Gives the pool back now (nothing if the handle is empty).
    void release() noexcept;

   private:
    friend class PoolManager;
    explicit Handle(Slot* slot) noexcept : slot_(slot) {}
    Slot* slot_ = nullptr;
  };

  PoolManager() : PoolManager(Options{}) {}
  explicit PoolManager(const Options& options);
  ~PoolManager();
  PoolManager(const PoolManager&) = delete;
  PoolManager& operator=(const PoolManager&) = delete;

  /// A reset pool tagged `tag` (not copied: a literal). Empty handle only if memory ran out.
  [[nodiscard]] Handle acquire(const char* tag = nullptr) noexcept;
  /// Destroys every idle pool (FreeSWITCH's switch_core_memory_reclaim).
  void reclaim() noexcept;
  /// Destroys half of the pools that stayed idle since the previous call (h2o's trim). Call it
  /// on a timer, e.g. once a second.
  void trim() noexcept;
  /// Joins the background thread, recycles what was queued, destroys the idle pools. Afterwards
  /// releases destroy their pools. Idempotent; the destructor calls it.
  void stop() noexcept;
  /// Settles what releases started: immediate mode takes in the pools released on other threads;
  /// deferred mode waits until the background thread has recycled every queued pool. Afterwards
  /// stats() counts every handle released before the call. For an orderly report, and for tests.
  void drain() noexcept;

  Stats stats() const noexcept;
  BlockAllocator& block_allocator() const noexcept { return *allocator_; }
  /// Makes the calling thread the owner, and of the manager's own allocator too (a manager built
  /// on one thread for another: a reactor's, say). Only while no pool is out.
  void adopt_current_thread() noexcept;
  /// Writes one line per outstanding pool (and its live allocations) to `out`. It reads those
  /// pools: in immediate mode no handle may be in the middle of a release on another thread
  /// meanwhile (it is meant for shutdown, as the destructor uses it).
  void report_outstanding(std::FILE* out) const noexcept;

 private:
  /// The mutex to take: in deferred mode only.
  std::mutex* lock() const noexcept { return deferred_ ? &mutex_ : nullptr; }

  void release(Slot* slot) noexcept;
  void recycle(Slot* slot) noexcept;
  void take_foreign_releases() noexcept;
  void push_foreign_release(Slot* slot) noexcept;
  void destroy(Slot* slot) noexcept;
  void run_deferred() noexcept;
  Slot* pop_idle() noexcept;
  void link_outstanding(Slot* slot) noexcept;
  void unlink_outstanding(Slot* slot) noexcept;

  BlockAllocator own_allocator_;
  BlockAllocator* allocator_;
  PoolOptions pool_options_;
  std::size_t max_idle_;
  std::size_t max_idle_bytes_;
  std::size_t queue_capacity_;
  bool deferred_;
  bool stopped_ = false;
  std::thread::id owner_;

  Slot* idle_ = nullptr;         ///< idle pools, most recently released first (warm caches)
  Slot* outstanding_ = nullptr;  ///< acquired pools, for the leak report
  std::size_t idle_low_water_ = 0;  ///< fewest idle pools since the last trim()
  Stats stats_{};
  std::atomic<Slot*> foreign_releases_{nullptr};  ///< immediate mode: reset pools from other threads

  mutable std::mutex mutex_;         ///< deferred mode: guards everything above
  std::condition_variable wake_;     ///< deferred mode: wakes the thread (a pool queued, or stop)
  std::condition_variable drained_;  ///< deferred mode: the queue is empty and nothing is being recycled
  std::vector<Slot*> queue_;         ///< deferred mode: a ring of released pools for the thread
  std::size_t queue_head_ = 0;       ///< index of the oldest queued pool
  std::size_t queue_size_ = 0;
  bool recycling_ = false;           ///< the thread is recycling a pool it took off the queue
  bool thread_stopping_ = false;
  std::thread thread_;
};

/// A pool with the links the manager keeps it on.
struct PoolManager::Slot {
  Slot(const PoolOptions& options, PoolManager* owner) : pool(options), manager(owner) {}
  Pool pool;
  PoolManager* manager;
  Slot* prev = nullptr;         ///< outstanding list
  Slot* next = nullptr;         ///< outstanding or idle list
  /// The foreign-release list: apart from `next`, because a pool released on another thread stays
  /// on the outstanding list until the owner takes it in.
  Slot* next_released = nullptr;
  std::size_t idle_bytes = 0;   ///< block bytes it held when it went idle
};

inline Pool* PoolManager::Handle::get() const noexcept { return slot_ ? &slot_->pool : nullptr; }

inline void PoolManager::Handle::release() noexcept {
  if (Slot* slot = std::exchange(slot_, nullptr)) slot->manager->release(slot);
}

}  // namespace mempool
