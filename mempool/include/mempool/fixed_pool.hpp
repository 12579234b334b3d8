/// \file
/// FixedPool: O(1) alloc/free of equal-size slices from one region (Swoole FixedPool, DESIGN §3.5).
///
/// The region is owned (heap) or given by the caller, e.g. an allocation inside a SharedArena.
/// All bookkeeping (counters, free list) lives inside the region as offsets and indices, never
/// pointers, so a pool formatted in shared memory before fork() works in every process, and a
/// FixedPool::attach view works even where the region is mapped at another address.
/// Thread safety: none. One owner (a reactor's connection objects), or a lock held around every
/// call when the region is shared (SharedArena::lock() serves). Lifetime: the pool must outlive
/// its slices; caller memory must outlive the pool and is never freed by it.
///
/// Caller memory too small. Memory that holds the header but no slice gives a pool of zero slices;
/// memory too small for even the header gives one whose header lives in the object (nothing is
/// written to the memory, and attach finds nothing there). Either way every alloc fails, counted,
/// in every build: a size the caller got wrong is an answer, not a crash.
///
/// Double free policy: free() of a slice that is not allocated, or of a pointer that is not the
/// start of a slice, changes nothing, counts the event in the stats (inside the region) and
/// returns false in every build; checked builds (MEMPOOL_EXPECT) then abort with a message.
/// Allocation failure policy: nullptr (pool exhausted, or a request larger than a slice).
/// attach() trusts nothing it reads: a region whose header or free list is not one a FixedPool
/// could have written is refused with std::invalid_argument.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "mempool/allocator.hpp"
#include "mempool/detail/sanitizer.hpp"

namespace mempool {

/// A snapshot of one pool's counters (read from the region: every process sees the same).
struct FixedPoolStats {
  std::size_t slice_size = 0;      ///< bytes per slice (the requested size rounded up to 16)
  std::size_t slices_total = 0;    ///< slices in the region
  std::size_t in_use = 0;          ///< slices allocated now
  std::size_t peak = 0;            ///< most slices ever allocated at once
  std::uint64_t allocs = 0;        ///< successful allocations
  std::uint64_t frees = 0;         ///< successful frees
  std::uint64_t failed_exhausted = 0;  ///< allocations refused: no free slice
  std::uint64_t failed_oversize = 0;   ///< allocations refused: larger than a slice
  std::uint64_t double_frees = 0;      ///< free() of a slice that was not allocated
  std::uint64_t invalid_frees = 0;     ///< free() of a pointer that is not the start of one of our slices
  bool operator==(const FixedPoolStats&) const = default;
};

class FixedPool {
 public:
  using Stats = FixedPoolStats;

  /// Slice alignment; slice sizes are rounded up to a multiple of it.
  static constexpr std::size_t alignment = 16;
  /// Tag for the constructor that views a region another FixedPool formatted.
  struct Attach {};
  static constexpr Attach attach{};

  /// Owns a heap region of exactly `slice_count` slices of at least `slice_size` bytes.
  /// Throws std::bad_alloc if the heap refuses it or the size overflows.
  FixedPool(std::size_t slice_size, std::size_t slice_count);
  /// Formats [memory, memory + bytes) with as many slices as fit (maybe none: see "Caller memory
  /// too small" above). The start is rounded up to `alignment`. Nothing is written outside the
  /// range. O(slices fitted): a huge slice_size fits none and costs nothing.
  FixedPool(std::size_t slice_size, void* memory, std::size_t bytes) noexcept;
  /// A view of the region [memory, memory + bytes) that another FixedPool formatted, maybe at
  /// another address (another mapping of the same shared memory). Checks every field and the
  /// whole free list first (O(slices)), with the region's lock held if it is shared; throws
  /// std::invalid_argument naming what is wrong if it is not a FixedPool that fits the range.
  FixedPool(Attach, void* memory, std::size_t bytes);
  ~FixedPool();
  FixedPool(const FixedPool&) = delete;
  FixedPool& operator=(const FixedPool&) = delete;

  /// Bytes of 16-byte aligned memory that hold exactly `slice_count` slices of `slice_size`;
  /// SIZE_MAX if that overflows.
  static std::size_t region_size(std::size_t slice_size, std::size_t slice_count) noexcept;

  /// A free slice (the most recently freed first), or nullptr when none is left.
  [[nodiscard]] void* alloc() noexcept;
  /// A slice if n <= slice_size() (n == 0 included), else nullptr counted as oversize.
  [[nodiscard]] void* alloc(std::size_t n) noexcept;
  /// Returns slice p to the pool: true if it was allocated. nullptr: false, nothing counted.
  /// Double and invalid frees: see the policy at the top.
  bool free(void* p) noexcept;

  /// Constructs a T in a slice; nullptr when none is free or T is larger than a slice. If the
  /// constructor throws, the slice is freed and the exception propagates.
  template <class T, class... Args>
  [[nodiscard]] T* make(Args&&... args);
  /// Runs ~T and frees the slice; a double destroy is reported like a double free, without
  /// running the destructor a second time.
  template <class T>
  bool destroy(T* p) noexcept;

  bool owns(const void* p) const noexcept;    ///< p is the start of one of our slices
  bool is_live(const void* p) const noexcept; ///< ... and that slice is allocated
  std::size_t slice_size() const noexcept { return ctl_->slice_size; }
  std::size_t slice_count() const noexcept { return ctl_->slice_count; }
  std::size_t in_use() const noexcept { return ctl_->in_use; }
  Stats stats() const noexcept;

  // --- Allocator concept ------------------------------------------------------------------------
  [[nodiscard]] void* allocate(std::size_t n) noexcept { return alloc(n); }
  void deallocate(void* p, std::size_t) noexcept { free(p); }

 private:
  /// The in-region header. Offsets and indices only: valid in any process, at any address.
  struct Control {
    std::uint64_t magic;          ///< `format_magic` once formatted; attach checks it
    std::uint64_t slice_size;     ///< bytes per slice and between slice starts; a multiple of alignment
    std::uint64_t slices_offset;  ///< from this header to slice 0; a multiple of alignment
    std::uint32_t slice_count;    ///< slices in the region; below `in_use_mark`
    std::uint32_t free_head;      ///< index of the first free slice; `end_of_list` when none
    std::uint32_t in_use;         ///< slices allocated now
    std::uint32_t peak;           ///< most slices allocated at once
    std::uint64_t allocs;
    std::uint64_t frees;
    std::uint64_t failed_exhausted;
    std::uint64_t failed_oversize;
    std::uint64_t double_frees;
    std::uint64_t invalid_frees;
  };
  // links_[i], right after the Control: the next free slice after free slice i, `end_of_list`
  // for the last one, or `in_use_mark` while slice i is allocated (what catches double frees).
  // Kept apart from the slices, so a caller overrunning a slice cannot break the free list.
  static constexpr std::uint32_t end_of_list = 0xffffffffu;
  static constexpr std::uint32_t in_use_mark = 0xfffffffeu;
  static constexpr std::uint64_t format_magic = 0x6c6f6f5064786946ull;  // "FixedPool"

  static std::size_t links_end(std::size_t slice_count) noexcept;
  static std::size_t slices_that_fit(std::size_t slice_size, std::size_t bytes) noexcept;
  static const char* invalid_region(const char* start, std::size_t bytes) noexcept;
  void format(char* start, std::size_t slice_size, std::size_t slice_count) noexcept;
  void bind(char* start) noexcept;
  void* alloc_failed() noexcept;
  bool bad_free(bool was_slice) noexcept;
  bool index_of(const void* p, std::size_t& index) const noexcept;

  Control* ctl_;            ///< the region's header (at its aligned start)
  std::uint32_t* links_;    ///< ctl_'s link array: a process-local view, not stored in the region
  char* slices_;            ///< slice 0: a process-local view, not stored in the region
  void* owned_ = nullptr;   ///< the heap region when this pool owns it
  bool poison_ = false;     ///< ASan poisoning of free slices; heap regions only: shadow memory is
                            ///< per process, so poisoning a shared region would mislead the others
  Control fallback_{};      ///< the header of an empty pool whose given memory could not hold one
};

// --- inline fast paths ------------------------------------------------------------------------

inline void* FixedPool::alloc() noexcept {
  const std::uint32_t i = ctl_->free_head;
  if (i == end_of_list) return alloc_failed();
  ctl_->free_head = links_[i];
  links_[i] = in_use_mark;
  if (++ctl_->in_use > ctl_->peak) ctl_->peak = ctl_->in_use;
  ++ctl_->allocs;
  char* p = slices_ + std::size_t{i} * ctl_->slice_size;
  if (poison_) detail::unpoison(p, ctl_->slice_size);
  return p;
}

inline void* FixedPool::alloc(std::size_t n) noexcept {
  if (n > ctl_->slice_size) {
    ++ctl_->failed_oversize;
    return nullptr;
  }
  return alloc();
}

inline bool FixedPool::index_of(const void* p, std::size_t& index) const noexcept {
  // Unsigned arithmetic: a pointer below slice 0 wraps to a huge offset and fails the range test.
  const std::uintptr_t offset = reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(slices_);
  index = offset / ctl_->slice_size;
  return index < ctl_->slice_count && offset % ctl_->slice_size == 0;
}

inline bool FixedPool::free(void* p) noexcept {
  if (p == nullptr) return false;
  std::size_t i;
  if (!index_of(p, i)) return bad_free(false);
  if (links_[i] != in_use_mark) return bad_free(true);
  links_[i] = ctl_->free_head;
  ctl_->free_head = static_cast<std::uint32_t>(i);
  --ctl_->in_use;
  ++ctl_->frees;
  if (poison_) detail::poison(p, ctl_->slice_size);
  return true;
}

template <class T, class... Args>
T* FixedPool::make(Args&&... args) {
  static_assert(alignof(T) <= alignment, "FixedPool::make: T needs more than 16-byte alignment");
  void* p = alloc(sizeof(T));
  if (p == nullptr) return nullptr;
  if constexpr (std::is_nothrow_constructible_v<T, Args...>) {
    return ::new (p) T(std::forward<Args>(args)...);
  } else {
    try {
      return ::new (p) T(std::forward<Args>(args)...);
    } catch (...) {
      free(p);
      throw;
    }
  }
}

template <class T>
bool FixedPool::destroy(T* p) noexcept {
  if (p == nullptr) return false;
  if (!is_live(p)) return free(p);  // counts (and in checked builds reports) the bad free
  p->~T();
  return free(p);
}

static_assert(Allocator<FixedPool>);

}  // namespace mempool
