/// \file
/// Pool: the request/connection pool (nginx pool + APR pool + Melon pool, DESIGN §3.2).
///
/// Handlers allocate with a pointer bump and never free; the whole pool is reset or destroyed at
/// once. Blocks come from a BlockAllocator. Allocations that do not fit one block ("large") are
/// tracked one by one and `free()` releases them at once, in O(1).
///
/// Thread safety: none, like nginx's and APR's pools. A pool belongs to the thread that made it
/// (or last called adopt_current_thread()); checked builds abort when any call that allocates,
/// frees, resets or touches cleanups, user data, capacity, tag or children comes from another
/// thread. The read-only introspection (stats(), report(), bytes_used() ...) is not checked: a
/// PoolManager reads it while it holds the pool, not while the owner uses it.
/// Lifetime: a child pool dies with its parent (see the contract). A pool must outlive every
/// pointer it handed out, every container using resource(), and its children's owners.
///
/// Reset contract. reset() does, in this order (destruction does the same, then lets go of all):
///   1. Children are destroyed, newest first, each by this same contract. A destroyed child that
///      is still owned elsewhere is left empty and detached: it allocates nothing more (nullptr),
///      and a child made of it later is born the same way.
///   2. Cleanups run, last registered first, each taken off the list just before it runs (APR):
///      a cleanup may remove_cleanup() or run_cleanup() one that has not run yet, which then does
///      not run again, and one it registers is the newest and runs next. Then none is registered.
///   3. Large allocations go back to the BlockAllocator.
///   4. User data is forgotten (its keys lived in the pool). Tag, capacity and options stay.
///   5. Blocks are rewound; every pointer into the pool is now dead (ASan builds poison them).
///      One block is kept, of the pool's learned size; every other block goes back to the
///      BlockAllocator (and what a cascading pool gave back is its parent's budget again). The
///      learned size grows at once to a cycle's block total when that is larger (never over
///      `retain_bytes`), and halves (never under `block_size`) after a cycle that filled less
///      than half of it. So a steady stream of similar requests bumps through one block and
///      never calls the allocator, and one huge request cannot pin memory for the rest of a
///      keep-alive connection, nor in the pool's later lives from a PoolManager. (A kept block
///      of the wrong size is released, and one of the learned size taken at the next
///      allocation.) reset(Pool::Retain::nothing) keeps no block: the pool then holds no memory
///      at all (an idle connection's pool); the learned size is remembered.
///   reset() must not be called from inside one of this pool's cleanups.
///
/// Failure policy: every allocating call is [[nodiscard]] and returns nullptr (or an empty
/// string_view whose data() is nullptr) past the capacity, from a destroyed pool, or when the OS
/// refuses a block; alloc(0) alone never returns nullptr.
/// Only the std adaptors (resource(), PoolAllocator) throw std::bad_alloc instead.
///
/// MEMPOOL_DEBUG builds: every allocation is its own heap allocation, tracked with its call
/// site and freed on reset, so AddressSanitizer sees each overflow and use after reset.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory_resource>
#include <new>
#include <source_location>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "mempool/allocator.hpp"
#include "mempool/block_allocator.hpp"
#include "mempool/build_config.hpp"
#include "mempool/detail/align.hpp"
#include "mempool/detail/check.hpp"
#include "mempool/detail/sanitizer.hpp"

namespace mempool {

/// Where an allocation was asked for; recorded in MEMPOOL_DEBUG builds.
using Site = std::source_location;

/// How a pool is built. Every field has a default that suits a request pool.
struct PoolOptions {
  /// Where blocks come from. nullptr: the parent's allocator, or for a root pool the process-wide
  /// thread-safe BlockAllocator::shared_default(). A cascading child always uses its parent's.
  BlockAllocator* allocator = nullptr;
  /// Size of the pool's first block, header included, rounded up to a multiple of 4 KiB. Later
  /// blocks double, up to max_block_size.
  std::size_t block_size = BlockAllocator::page_size;
  /// Largest block the pool takes. An allocation that does not fit in one is a large allocation.
  std::size_t max_block_size = 16 * BlockAllocator::page_size;
  /// Most block bytes a reset keeps: the one block it keeps has the size the pool learned from
  /// its recent cycles (see the reset contract), but never more than this, nor than
  /// max_block_size (no block is larger: small_limit() holds for every block).
  std::size_t retain_bytes = 16 * BlockAllocator::page_size;
  /// Budget in bytes handed out since the last reset (small allocations count their alignment
  /// padding, large ones their requested size), plus what cascading children hold. 0: unlimited.
  std::size_t capacity = 0;
  /// A child only (Melon's cascading pools): take memory through the parent. Every block and
  /// large allocation the child holds (PoolStats::held_bytes) counts against the parent's
  /// capacity, and its ancestors' while they cascade too, from when it is taken until it is given
  /// back (a reset's kept block stays charged). So a connection pool's budget bounds every
  /// request pool inside it. An allocation the parent's budget refuses returns nullptr and counts
  /// as the child's capacity failure.
  bool cascade = false;
  /// A name for reports and stats. Not copied: it must outlive the pool (a literal, typically).
  const char* tag = nullptr;
};

/// A snapshot of one pool's counters.
struct PoolStats {
  std::size_t bytes_used = 0;         ///< bytes handed out since the last reset (see PoolOptions::capacity)
  std::size_t held_bytes = 0;         ///< memory held: block_bytes plus the large allocations' own memory
  std::size_t capacity = 0;           ///< the budget; 0 when unlimited
  std::size_t blocks = 0;             ///< blocks held for small allocations
  std::size_t block_bytes = 0;        ///< their total size, headers included
  std::size_t large_allocations = 0;  ///< live tracked allocations (all of them in MEMPOOL_DEBUG)
  std::size_t large_bytes = 0;        ///< their requested bytes
  std::size_t children = 0;           ///< live child pools
  std::size_t cleanups = 0;           ///< cleanups registered and not yet run
  std::uint64_t resets = 0;           ///< reset() calls over the pool's life
  std::uint64_t capacity_failures = 0;  ///< allocations refused for the budget
  bool operator==(const PoolStats&) const = default;
};

class Pool : private std::pmr::memory_resource {
 public:
  using Options = PoolOptions;
  using Stats = PoolStats;
  using CleanupFn = void (*)(void* data);  ///< must not throw: it runs inside reset()
  enum class Retain { bounded, nothing };

  static constexpr std::size_t default_alignment = alignof(std::max_align_t);
  static constexpr std::size_t max_alignment = BlockAllocator::page_size;
  static constexpr bool debug_allocations = MEMPOOL_DEBUG_ALLOCATIONS != 0;

  Pool() : Pool(Options{}) {}
  explicit Pool(const Options& options);
  /// A child of `parent` (APR subpool): destroyed first whenever the parent is reset or destroyed.
  explicit Pool(Pool& parent) : Pool(parent, Options{}) {}
  Pool(Pool& parent, const Options& options);
  ~Pool() override;
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // --- allocation -------------------------------------------------------------------------
  /// n bytes aligned to `align` (a power of two up to max_alignment). n == 0 always gives a
  /// non-null pointer, even past the capacity or from a destroyed pool, that must not be
  /// dereferenced; it costs at most the alignment padding. Over small_limit() bytes, it is a large allocation.
  [[nodiscard]] void* alloc(std::size_t n, std::size_t align = default_alignment,
                            Site site = Site::current()) noexcept;
  /// n bytes with no alignment: strings and byte buffers (nginx's ngx_pnalloc).
  [[nodiscard]] void* alloc_unaligned(std::size_t n, Site site = Site::current()) noexcept {
    return alloc(n, 1, site);
  }
  /// n zeroed bytes.
  [[nodiscard]] void* calloc(std::size_t n, std::size_t align = default_alignment,
                             Site site = Site::current()) noexcept;
  /// Resizes p (which holds old_size bytes) to n bytes: in place when p is the last allocation of
  /// the current block or a large allocation with room, else a new allocation that receives
  /// min(old_size, n) bytes (and p, if large, is freed). On nullptr, p is untouched.
  [[nodiscard]] void* realloc(void* p, std::size_t old_size, std::size_t n,
                              std::size_t align = default_alignment,
                              Site site = Site::current()) noexcept;
  /// Releases a large allocation at once and returns true; a small one stays until reset and
  /// returns false (nginx's ngx_pfree, without its list walk).
  bool free(void* p) noexcept;

  /// Constructs a T in the pool (aligned for T), recording the caller as the allocation site; its
  /// destructor runs as a cleanup unless T is trivially destructible. nullptr if the pool cannot
  /// hold it. Up to four constructor arguments (a std::source_location last is taken for the
  /// site); make_at() takes any number.
  template <class T>
  [[nodiscard]] T* make(Site site = Site::current()) {
    return make_at<T>(site);
  }
  template <class T, class A1>
  [[nodiscard]] T* make(A1&& a1, Site site = Site::current()) {
    return make_at<T>(site, std::forward<A1>(a1));
  }
  template <class T, class A1, class A2>
  [[nodiscard]] T* make(A1&& a1, A2&& a2, Site site = Site::current()) {
    return make_at<T>(site, std::forward<A1>(a1), std::forward<A2>(a2));
  }
  template <class T, class A1, class A2, class A3>
  [[nodiscard]] T* make(A1&& a1, A2&& a2, A3&& a3, Site site = Site::current()) {
    return make_at<T>(site, std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3));
  }
  template <class T, class A1, class A2, class A3, class A4>
  [[nodiscard]] T* make(A1&& a1, A2&& a2, A3&& a3, A4&& a4, Site site = Site::current()) {
    return make_at<T>(site, std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3), std::forward<A4>(a4));
  }
  /// make() with the site given first, for any number of constructor arguments.
  template <class T, class... Args>
  [[nodiscard]] T* make_at(Site site, Args&&... args);

  /// Room for `count` uninitialised T.
  template <class T>
  [[nodiscard]] T* alloc_array(std::size_t count, Site site = Site::current()) noexcept;

  // --- strings (FreeSWITCH switch_core_strdup / switch_core_sprintf) ------------------------
  /// A NUL-terminated copy of s; the view excludes the NUL. data() is nullptr on failure.
  [[nodiscard]] std::string_view strdup(std::string_view s, Site site = Site::current()) noexcept;

  /// A format string that remembers where format() was called from.
  template <class... Args>
  struct FormatAt {
    fmt::format_string<Args...> text;
    Site site;
    template <class S>
    consteval FormatAt(const S& s, Site where = Site::current()) : text(s), site(where) {}
  };
  /// fmt formatting into the pool, NUL-terminated; data() is nullptr on failure. A custom
  /// formatter may itself allocate from this pool (no room is held while it runs).
  template <class... Args>
  [[nodiscard]] std::string_view format(std::type_identity_t<FormatAt<Args...>> f, Args&&... args) {
    return vformat(f.text, fmt::make_format_args(args...), f.site);
  }
  [[nodiscard]] std::string_view vformat(fmt::string_view text, fmt::format_args args,
                                         Site site = Site::current());

  // --- cleanups (APR apr_pool_cleanup_*) ----------------------------------------------------
  /// Registers fn(data) to run at the next reset or destruction, and child_fn(data), if given,
  /// to run instead in a forked child that calls run_child_cleanups(). False if the pool is full.
  [[nodiscard]] bool add_cleanup(CleanupFn fn, void* data, CleanupFn child_fn = nullptr) noexcept;
  /// Unregisters the most recent (fn, data) without running it. False if none was registered.
  bool remove_cleanup(CleanupFn fn, void* data) noexcept;
  /// Unregisters the most recent (fn, data) and runs it now. False if none was registered.
  bool run_cleanup(CleanupFn fn, void* data) noexcept;
  /// APR's apr_pool_cleanup_for_exec: for a forked child about to exec (to close the parent's
  /// listening sockets, say). Runs the child_fn of every cleanup of this pool, last registered
  /// first, then of its children's, newest child first, down the whole tree; and unregisters
  /// every cleanup it passes, so none of the parent's cleanups runs in this process afterwards
  /// (if exec fails and the child exits). Not checked for the owner thread: the forking thread
  /// is the only one a forked child has.
  void run_child_cleanups() noexcept;

  // --- lifetime -----------------------------------------------------------------------------
  void reset(Retain retain = Retain::bounded) noexcept;
  /// Steps 1 and 2 of the reset contract now: destroys the children and runs every cleanup,
  /// keeping this pool's own memory. A PoolManager calls it on the releasing thread so that
  /// cleanups never run late on another thread (FreeSWITCH's lesson).
  void run_cleanups() noexcept;
  Pool* parent() const noexcept { return parent_; }
  /// True once the parent destroyed this pool while its owner still holds it.
  bool destroyed_by_parent() const noexcept { return orphaned_; }

  // --- capacity (Melon mln_alloc_init capacity / mln_alloc_available_capacity) ---------------
  std::size_t capacity() const noexcept { return capacity_ == unlimited ? 0 : capacity_; }
  /// 0 removes the limit. A limit below what is already used makes every allocation fail.
  void set_capacity(std::size_t bytes) noexcept;
  /// Bytes left under the capacity (and, cascading, under the parent's); SIZE_MAX when unlimited.
  std::size_t available() const noexcept;
  std::size_t bytes_used() const noexcept {
    return used_ + static_cast<std::size_t>(cursor_ - segment_start_);
  }

  // --- tag and user data (APR apr_pool_tag / apr_pool_userdata_*) ---------------------------
  void set_tag(const char* tag) noexcept {
    check_owner();
    tag_ = tag;
  }
  const char* tag() const noexcept { return tag_ ? tag_ : ""; }
  /// Binds data to key (key copied into the pool) until the next reset. False if the pool is full.
  [[nodiscard]] bool set_user_data(std::string_view key, void* data) noexcept;
  /// The data bound to key, or nullptr.
  void* user_data(std::string_view key) const noexcept;

  // --- std integration ----------------------------------------------------------------------
  /// A memory_resource over this pool: std::pmr containers live in its scope. Throws bad_alloc
  /// when the pool cannot serve; deallocation frees large allocations, ignores small ones.
  std::pmr::memory_resource* resource() noexcept { return this; }

  // --- introspection ------------------------------------------------------------------------
  Stats stats() const noexcept;
  /// Bytes of the blocks the pool holds for small allocations, headers included.
  std::size_t block_bytes() const noexcept;
  BlockAllocator& block_allocator() const noexcept { return *allocator_; }
  /// Largest allocation served from blocks (at 16-byte alignment); larger ones are large
  /// allocations, which free() releases at once. With a stricter alignment, one within
  /// align - 16 bytes under the limit is large unless the current block has room for it.
  std::size_t small_limit() const noexcept { return small_capacity_; }
  /// Makes the calling thread the owner (a pool handed to another thread by a PoolManager).
  void adopt_current_thread() noexcept { owner_ = std::this_thread::get_id(); }
  /// Lists live tracked allocations (every allocation, with call sites, in MEMPOOL_DEBUG builds).
  void report(std::FILE* out) const noexcept;

  // --- Allocator concept ----------------------------------------------------------------------
  [[nodiscard]] void* allocate(std::size_t n) noexcept { return alloc(n); }
  void deallocate(void* p, std::size_t) noexcept { free(p); }

 private:
  struct Tracked;
  struct Cleanup;
  struct UserData;
  struct BumpHeader;
  static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

  void* alloc_slow(std::size_t n, std::size_t align, Site site) noexcept;
  void* alloc_from_blocks(std::size_t n, std::size_t align) noexcept;
  void* bump_in(MemoryBlock* block, std::size_t n, std::size_t align, std::size_t budget) noexcept;
  static bool exhausted(MemoryBlock* block) noexcept;
  void* alloc_tracked(std::size_t n, std::size_t align, Site site, bool large) noexcept;
  MemoryBlock* take_block(std::size_t size) noexcept;
  void give_block(MemoryBlock* block) noexcept;
  void* take_heap(std::size_t bytes) noexcept;
  void give_heap(void* p, std::size_t bytes) noexcept;
  bool charge_parent(std::size_t bytes) noexcept;
  bool charge_ancestors(std::size_t bytes) noexcept;
  void uncharge_parent(std::size_t bytes) noexcept;
  void make_current(MemoryBlock* block) noexcept;
  void save_cursor() noexcept;
  void commit_segment() noexcept;
  void fit_limit() noexcept;
  MemoryBlock* add_block(std::size_t min_capacity) noexcept;
  void learn_block_size() noexcept;
  void tear_down() noexcept;
  void destroy_children() noexcept;
  void run_own_cleanups() noexcept;
  void release_tracked() noexcept;
  void release(Tracked* t) noexcept;
  void rewind_blocks(bool keep_a_block) noexcept;
  void clear(bool keep_a_block) noexcept;
  void detach_from_parent() noexcept;
  Tracked* tracked_header(void* p) const noexcept;
  void check_owner() const noexcept {
    MEMPOOL_EXPECT(owner_ == std::this_thread::get_id(), "pool used from a thread that does not own it");
  }

  template <class T>
  static void destroy_object(void* p) {
    static_cast<T*>(p)->~T();
  }

  void* do_allocate(std::size_t bytes, std::size_t align) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t align) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;

  // The current block, bumped on the fast path: [cursor_, limit_) may be handed out. limit_ is
  // the block's end, or sooner where the capacity runs out, so the fast path checks one bound.
  // All three point at an empty sentinel while the pool holds no block (no null checks).
  char* cursor_;
  char* limit_;
  char* segment_start_;           ///< cursor_ when used_ was last brought up to date
  std::size_t used_ = 0;          ///< bytes handed out before segment_start_ (bytes_used() adds the rest)
  std::size_t capacity_;          ///< budget for bytes_used(); `unlimited` when none
  MemoryBlock* current_ = nullptr;  ///< block cursor_ bumps in; blocks before it are (nearly) full
  MemoryBlock* first_ = nullptr;    ///< small blocks in acquisition order, linked through MemoryBlock::next
  MemoryBlock* last_ = nullptr;
  Tracked* tracked_ = nullptr;      ///< large allocations (and, in MEMPOOL_DEBUG, every allocation)
  Cleanup* cleanups_ = nullptr;     ///< newest first
  Cleanup* spare_cleanups_ = nullptr;  ///< removed records, reused before allocating new ones
  UserData* user_data_ = nullptr;
  Pool* parent_ = nullptr;
  Pool* first_child_ = nullptr;     ///< newest first
  Pool* next_sibling_ = nullptr;
  Pool* prev_sibling_ = nullptr;
  BlockAllocator* allocator_;
  std::size_t min_block_size_;      ///< options.block_size: the smallest first block
  std::size_t first_block_size_;    ///< size of a cycle's first block, learned at each reset (in [min_block_size_, retain_bytes_])
  std::size_t max_block_size_;      ///< bytes of the largest block, header included
  std::size_t retain_bytes_;        ///< cap on first_block_size_, a multiple of page_size, <= max_block_size_
  std::size_t small_capacity_;      ///< usable bytes of a max-size block after its BumpHeader
  const char* tag_;
  std::thread::id owner_;
  std::uint64_t resets_ = 0;
  std::uint64_t capacity_failures_ = 0;
  bool orphaned_ = false;
  bool in_cleanup_ = false;
  bool cascade_;                    ///< options.cascade: memory charged to the parent
};

// --- inline fast paths ------------------------------------------------------------------------

inline void* Pool::alloc(std::size_t n, std::size_t align, Site site) noexcept {
  assert(detail::is_power_of_two(align) && align <= max_alignment);
  check_owner();
  if constexpr (!debug_allocations) {
    const auto room = static_cast<std::size_t>(limit_ - cursor_);
    const std::size_t pad = detail::padding_for(cursor_, align);
    if (pad <= room && n <= room - pad) {
      char* p = cursor_ + pad;
      cursor_ = p + n;
      detail::unpoison(p, n);
      return p;
    }
  }
  return alloc_slow(n, align, site);
}

inline void* Pool::calloc(std::size_t n, std::size_t align, Site site) noexcept {
  void* p = alloc(n, align, site);
  if (p != nullptr && n != 0) std::memset(p, 0, n);
  return p;
}

template <class T>
T* Pool::alloc_array(std::size_t count, Site site) noexcept {
  if (count > std::numeric_limits<std::size_t>::max() / sizeof(T)) return nullptr;
  return static_cast<T*>(alloc(count * sizeof(T), alignof(T), site));
}

template <class T, class... Args>
T* Pool::make_at(Site site, Args&&... args) {
  static_assert(alignof(T) <= max_alignment, "Pool::make: alignment beyond a page");
  void* mem = alloc(sizeof(T), alignof(T), site);
  if (mem == nullptr) return nullptr;
  T* object = ::new (mem) T(std::forward<Args>(args)...);
  if constexpr (!std::is_trivially_destructible_v<T>) {
    if (!add_cleanup(&destroy_object<T>, object)) {
      object->~T();
      return nullptr;
    }
  }
  return object;
}

/// A classic allocator over a Pool, for containers that take an allocator type rather than a
/// memory_resource. Throws std::bad_alloc when the pool cannot serve; deallocate frees large
/// allocations at once and leaves small ones to the next reset.
template <class T>
class PoolAllocator {
 public:
  using value_type = T;

  explicit PoolAllocator(Pool& pool) noexcept : pool_(&pool) {}
  template <class U>
  PoolAllocator(const PoolAllocator<U>& other) noexcept : pool_(&other.pool()) {}

  [[nodiscard]] T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    void* p = pool_->alloc(n * sizeof(T), alignof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { pool_->free(p); }

  Pool& pool() const noexcept { return *pool_; }

  template <class U>
  bool operator==(const PoolAllocator<U>& other) const noexcept {
    return pool_ == &other.pool();
  }

 private:
  Pool* pool_;
};

static_assert(Allocator<Pool>);

}  // namespace mempool
