/// \file
/// SmallObjectAllocator: size-class free lists for small objects, the nodes of std::list,
/// std::map and friends that are allocated and freed one at a time (SGI STL's second-level
/// allocator, DESIGN §3.7).
///
/// Thread safety: none; use one instance per thread or per reactor (SGI's one global lock is what
/// made its allocator slow under threads). Lifetime: small objects live in chunks that are
/// released when the allocator dies, so none may be used after; objects over 128 bytes come from
/// the source one by one and must be deallocated before (one that is not is reported and leaked).
///
/// How it works. Requests of up to 128 bytes are rounded up to a multiple of 8 and served from one
/// of 16 free lists. An empty list is refilled with up to 20 objects carved from the current
/// chunk; a new chunk is 2 × (the refill's bytes) + 1/16 of all chunk bytes taken so far, so
/// chunks grow with use, and the old chunk's leftover goes onto the free list of its size. When
/// the MemorySource refuses a chunk, a free object of a larger list is carved instead; when there
/// is none, the out-of-memory handler is called in a loop (like std::set_new_handler) until the
/// source gives or the handler is removed, and then std::bad_alloc is thrown.
///
/// Failure policy: this is the one mempool allocator whose allocate() throws (see allocator.hpp);
/// every call that may throw std::bad_alloc says "Throws" below.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <type_traits>

#include "mempool/allocator.hpp"
#include "mempool/detail/check.hpp"
#include "mempool/detail/sanitizer.hpp"

namespace mempool {

/// Where a SmallObjectAllocator gets its chunks and its objects over 128 bytes. An interface so
/// tests (and embedders) can refuse memory on purpose: nullptr from allocate means "refused".
class MemorySource {
 public:
  /// `bytes` (> 0) aligned to alignof(std::max_align_t), or nullptr when refused.
  [[nodiscard]] virtual void* allocate(std::size_t bytes) noexcept = 0;
  virtual void deallocate(void* p, std::size_t bytes) noexcept = 0;
  /// p resized to new_bytes, its first min(old, new) bytes kept; nullptr when refused, p then
  /// untouched. The default allocates, copies and deallocates.
  [[nodiscard]] virtual void* reallocate(void* p, std::size_t old_bytes, std::size_t new_bytes) noexcept;

  /// malloc / free / realloc. Sizes over PTRDIFF_MAX (no object can be that large) are refused
  /// without asking malloc.
  static MemorySource& heap() noexcept;

 protected:
  MemorySource() = default;
  MemorySource(const MemorySource&) = default;
  MemorySource& operator=(const MemorySource&) = default;
  ~MemorySource() = default;
};

class SmallObjectAllocator;

/// Called while the source refuses memory, until it gives some. It frees memory somewhere, or
/// gives up by calling allocator.set_oom_handler({}), or throws. It may deallocate into this
/// allocator but must not allocate from it.
struct SmallObjectOomHandler {
  void (*fn)(SmallObjectAllocator& allocator, void* context) = nullptr;
  void* context = nullptr;  ///< passed to fn as is
  explicit operator bool() const noexcept { return fn != nullptr; }
};

/// How an allocator is built.
struct SmallObjectAllocatorOptions {
  MemorySource* source = nullptr;        ///< nullptr: MemorySource::heap(). Must outlive the allocator.
  SmallObjectOomHandler oom_handler{};   ///< none: a refused request throws std::bad_alloc at once
};

/// A snapshot of one allocator's counters.
struct SmallObjectStats {
  std::array<std::size_t, 16> free_objects{};  ///< [i]: free objects of (i + 1) * 8 bytes
  std::size_t chunks = 0;                ///< chunks held from the source
  std::size_t chunk_bytes = 0;           ///< their total size, headers included (SGI's heap_size)
  std::size_t chunk_left = 0;            ///< bytes of the current chunk not carved yet
  std::size_t heap_bytes = 0;            ///< live bytes of objects over 128 bytes
  std::uint64_t refills = 0;             ///< times an empty free list was refilled
  std::uint64_t larger_list_fallbacks = 0;  ///< refused chunks replaced by a free object of a larger list
  std::uint64_t oom_handler_calls = 0;   ///< calls of the out-of-memory handler
  bool operator==(const SmallObjectStats&) const = default;
};

class SmallObjectAllocator {
 public:
  using Options = SmallObjectAllocatorOptions;
  using Stats = SmallObjectStats;
  using OomHandler = SmallObjectOomHandler;

  static constexpr std::size_t alignment = 8;        ///< size-class step, and small objects' alignment
  static constexpr std::size_t max_small_size = 128; ///< larger requests go to the source directly
  static constexpr std::size_t class_count = max_small_size / alignment;
  static constexpr std::size_t refill_count = 20;    ///< objects carved per refill, at most
  static constexpr std::size_t chunk_header_size = 16; ///< bytes at the start of each chunk, for its list link

  SmallObjectAllocator() : SmallObjectAllocator(Options{}) {}
  /// Takes no memory yet: the first chunk is made by the first small allocation.
  explicit SmallObjectAllocator(const Options& options) noexcept;
  ~SmallObjectAllocator();
  SmallObjectAllocator(const SmallObjectAllocator&) = delete;
  SmallObjectAllocator& operator=(const SmallObjectAllocator&) = delete;

  /// n bytes: 8-aligned when n <= 128, else aligned as the source aligns. n == 0 is served as
  /// 1 byte (a distinct object, given back with deallocate(p, 0)).
  /// Throws std::bad_alloc when the source refuses and neither a larger free list nor the
  /// out-of-memory handler helps.
  [[nodiscard]] void* allocate(std::size_t n);
  /// Gives back p, which was allocated with a size of the same class as n. nullptr: no-op.
  /// Checked ASan builds abort on a second deallocate of the same small object.
  void deallocate(void* p, std::size_t n) noexcept;
  /// SGI's reallocate: p itself when old_size and n are both <= 128 and in the same size class;
  /// the source's reallocate when both are over 128; else allocate, copy min(old_size, n) bytes,
  /// deallocate p. p == nullptr is allocate(n).
  /// Throws std::bad_alloc like allocate(); p is then untouched.
  [[nodiscard]] void* reallocate(void* p, std::size_t old_size, std::size_t n);

  /// Installs the out-of-memory handler and returns the previous one (std::set_new_handler).
  OomHandler set_oom_handler(OomHandler handler) noexcept;

  Stats stats() const noexcept;
  MemorySource& source() const noexcept { return *source_; }

  /// Free list serving n bytes (n <= 128): bytes 1..8 → 0, 9..16 → 1, ...; 0 bytes → 0.
  static constexpr std::size_t class_index(std::size_t n) noexcept { return n == 0 ? 0 : (n - 1) / alignment; }
  /// Bytes an object of n bytes (n <= 128) really takes: n rounded up to a multiple of 8, at least 8.
  static constexpr std::size_t size_class(std::size_t n) noexcept { return (class_index(n) + 1) * alignment; }

 private:
  struct FreeObject {
    FreeObject* next;
  };
  struct FreeList {
    FreeObject* head = nullptr;  ///< the object handed out next; its link is the list
    std::size_t count = 0;       ///< objects on the list
  };
  struct Chunk;

  // A free object is poisoned in ASan builds, so a second deallocate of it is caught there.
  static bool already_free(const void* p) noexcept {
#if MEMPOOL_HAS_ASAN
    return __asan_address_is_poisoned(p) != 0;
#else
    (void)p;
    return false;
#endif
  }
  void* pop(std::size_t index) noexcept;
  void push(std::size_t index, void* p) noexcept;
  void* refill(std::size_t size);
  char* carve(std::size_t size, std::size_t& count);
  void replenish(std::size_t size, std::size_t total);
  void keep_leftover() noexcept;
  bool take_from_larger_list(std::size_t size) noexcept;
  void adopt_chunk(void* raw, std::size_t bytes) noexcept;
  template <class Attempt>
  void* retry_with_handler(Attempt attempt);
  void* allocate_large(std::size_t n);
  void deallocate_large(void* p, std::size_t n) noexcept;
  void* reallocate_large(void* p, std::size_t old_size, std::size_t n);

  std::array<FreeList, class_count> lists_{};  ///< lists_[i] holds free objects of (i + 1) * 8 bytes
  // The current chunk: [chunk_start_, chunk_end_) is not carved yet (poisoned in ASan builds).
  // Both are nullptr while there is none. It may be a free object taken from a larger list.
  char* chunk_start_ = nullptr;
  char* chunk_end_ = nullptr;
  Chunk* chunks_ = nullptr;       ///< every chunk from the source, newest first; freed on destruction
  std::size_t chunk_count_ = 0;
  std::size_t heap_size_ = 0;     ///< bytes of all chunks taken from the source; drives chunk growth
  std::size_t heap_bytes_ = 0;    ///< live bytes of objects over 128 bytes
  std::uint64_t refills_ = 0;
  std::uint64_t fallbacks_ = 0;
  std::uint64_t oom_calls_ = 0;
  MemorySource* source_;
  OomHandler oom_handler_;
};

// --- inline fast paths ------------------------------------------------------------------------

inline void* SmallObjectAllocator::allocate(std::size_t n) {
  if (n > max_small_size) return allocate_large(n);
  const std::size_t index = class_index(n);
  if (lists_[index].head != nullptr) return pop(index);
  return refill(size_class(n));
}

inline void SmallObjectAllocator::deallocate(void* p, std::size_t n) noexcept {
  if (p == nullptr) return;
  if (n > max_small_size) return deallocate_large(p, n);
  MEMPOOL_EXPECT(!already_free(p), "SmallObjectAllocator: object deallocated twice");
  push(class_index(n), p);
}

inline void* SmallObjectAllocator::pop(std::size_t index) noexcept {
  FreeList& list = lists_[index];
  FreeObject* object = list.head;
  detail::unpoison(object, (index + 1) * alignment);
  list.head = object->next;
  --list.count;
  return object;
}

inline void SmallObjectAllocator::push(std::size_t index, void* p) noexcept {
  FreeList& list = lists_[index];
  detail::unpoison(p, sizeof(FreeObject));
  list.head = ::new (p) FreeObject{list.head};
  ++list.count;
  detail::poison(p, (index + 1) * alignment);  // a use after deallocate trips ASan
}

/// A classic allocator over a SmallObjectAllocator, for containers that allocate one node at a
/// time (std::list, std::map, std::set, std::unordered_map's nodes). Copies share the allocator;
/// a rebound copy (the container's node type) is made by the converting constructor.
/// allocate() throws std::bad_alloc like SmallObjectAllocator::allocate.
template <class T>
class SmallObjectStlAllocator {
  static_assert(alignof(T) <= SmallObjectAllocator::alignment,
                "SmallObjectStlAllocator: small objects are only 8-byte aligned");

 public:
  using value_type = T;
  // Containers that swap or move-assign take the allocator along, so their nodes stay with it.
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;

  explicit SmallObjectStlAllocator(SmallObjectAllocator& allocator) noexcept : allocator_(&allocator) {}
  template <class U>
  SmallObjectStlAllocator(const SmallObjectStlAllocator<U>& other) noexcept : allocator_(&other.allocator()) {}

  /// Throws std::bad_alloc, or std::bad_array_new_length when n * sizeof(T) overflows.
  [[nodiscard]] T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(allocator_->allocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { allocator_->deallocate(p, n * sizeof(T)); }

  SmallObjectAllocator& allocator() const noexcept { return *allocator_; }

  template <class U>
  bool operator==(const SmallObjectStlAllocator<U>& other) const noexcept {
    return allocator_ == &other.allocator();
  }

 private:
  SmallObjectAllocator* allocator_;
};

static_assert(Allocator<SmallObjectAllocator>);

}  // namespace mempool
