#include "mempool/small_object_allocator.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace mempool {

// --- MemorySource -------------------------------------------------------------------------------

void* MemorySource::reallocate(void* p, std::size_t old_bytes, std::size_t new_bytes) noexcept {
  void* q = allocate(new_bytes);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, std::min(old_bytes, new_bytes));
  deallocate(p, old_bytes);
  return q;
}

namespace {

constexpr std::size_t max_object_size = static_cast<std::size_t>(PTRDIFF_MAX);

class HeapSource final : public MemorySource {
 public:
  constexpr HeapSource() = default;
  void* allocate(std::size_t bytes) noexcept override {
    return bytes <= max_object_size ? std::malloc(bytes) : nullptr;
  }
  void deallocate(void* p, std::size_t) noexcept override { std::free(p); }
  void* reallocate(void* p, std::size_t, std::size_t new_bytes) noexcept override {
    return new_bytes <= max_object_size ? std::realloc(p, new_bytes) : nullptr;
  }
};

// Rounds up to the size-class step, as the chunk growth term must stay a multiple of it.
constexpr std::size_t round_up(std::size_t n) noexcept {
  return (n + SmallObjectAllocator::alignment - 1) & ~(SmallObjectAllocator::alignment - 1);
}

}  // namespace

MemorySource& MemorySource::heap() noexcept {
  static constinit HeapSource source;  // stateless, trivially destroyed: usable at any time
  return source;
}

// --- SmallObjectAllocator -----------------------------------------------------------------------

// Header at the start of every chunk taken from the source; the chunk's carvable bytes follow.
// It lives inside the bytes the growth rule asks for, so the source sees exactly SGI's sizes.
struct SmallObjectAllocator::Chunk {
  Chunk* next;        ///< the chunk taken before this one
  std::size_t bytes;  ///< the whole chunk as asked of the source, this header included

  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
};

SmallObjectAllocator::SmallObjectAllocator(const Options& options) noexcept
    : source_(options.source ? options.source : &MemorySource::heap()), oom_handler_(options.oom_handler) {
  static_assert(sizeof(Chunk) == chunk_header_size && chunk_header_size % alignment == 0);
  static_assert(std::tuple_size_v<decltype(Stats::free_objects)> == class_count);
}

SmallObjectAllocator::~SmallObjectAllocator() {
  if (heap_bytes_ != 0) {
    std::fprintf(stderr, "mempool: SmallObjectAllocator destroyed with %zu bytes of large objects still allocated\n",
                 heap_bytes_);
  }
  while (Chunk* chunk = chunks_) {
    chunks_ = chunk->next;
    detail::unpoison(chunk, chunk->bytes);
    source_->deallocate(chunk, chunk->bytes);
  }
}

// SGI's _S_refill: the caller gets the first object, the free list the others.
void* SmallObjectAllocator::refill(std::size_t size) {
  std::size_t count = refill_count;
  char* block = carve(size, count);
  ++refills_;
  const std::size_t index = class_index(size);
  for (std::size_t i = count; i-- > 1;) push(index, block + i * size);  // head ends at the lowest address
  return block;
}

// SGI's _S_chunk_alloc: up to `count` objects of `size` bytes from the current chunk, at least
// one; `count` is lowered to what was carved. Throws std::bad_alloc.
char* SmallObjectAllocator::carve(std::size_t size, std::size_t& count) {
  for (;;) {
    const auto left = static_cast<std::size_t>(chunk_end_ - chunk_start_);
    if (left >= size) {
      count = std::min(count, left / size);
      char* block = chunk_start_;
      chunk_start_ += count * size;
      detail::unpoison(block, count * size);
      return block;
    }
    replenish(size, count * size);
  }
}

// Replaces a current chunk too short for one object of `size`. Throws std::bad_alloc.
void SmallObjectAllocator::replenish(std::size_t size, std::size_t total) {
  // Twice what this refill wants, plus a sixteenth of everything taken so far: a busy allocator
  // asks the source ever less often.
  const std::size_t bytes = 2 * total + round_up(heap_size_ >> 4);
  keep_leftover();
  void* raw = source_->allocate(bytes);
  if (raw == nullptr && take_from_larger_list(size)) return;
  if (raw == nullptr) raw = retry_with_handler([&] { return source_->allocate(bytes); });
  adopt_chunk(raw, bytes);
}

// The old chunk's tail (a multiple of 8, smaller than the object wanted) becomes a free object.
void SmallObjectAllocator::keep_leftover() noexcept {
  const auto left = static_cast<std::size_t>(chunk_end_ - chunk_start_);
  if (left != 0) push(class_index(left), chunk_start_);
  chunk_start_ = chunk_end_ = nullptr;
}

// The source refused: carve from a free object of this size or larger, the smallest first.
bool SmallObjectAllocator::take_from_larger_list(std::size_t size) noexcept {
  for (std::size_t index = class_index(size); index < class_count; ++index) {
    if (lists_[index].head == nullptr) continue;
    const std::size_t bytes = (index + 1) * alignment;
    chunk_start_ = static_cast<char*>(pop(index));
    chunk_end_ = chunk_start_ + bytes;
    detail::poison(chunk_start_, bytes);
    ++fallbacks_;
    return true;
  }
  return false;
}

void SmallObjectAllocator::adopt_chunk(void* raw, std::size_t bytes) noexcept {
  auto* chunk = ::new (raw) Chunk{chunks_, bytes};
  chunks_ = chunk;
  ++chunk_count_;
  heap_size_ += bytes;
  chunk_start_ = chunk->data();
  chunk_end_ = static_cast<char*>(raw) + bytes;
  detail::poison(chunk_start_, bytes - sizeof(Chunk));
}

// SGI's _S_oom_malloc: call the handler, try again; without a handler, give up.
template <class Attempt>
void* SmallObjectAllocator::retry_with_handler(Attempt attempt) {
  for (;;) {
    if (!oom_handler_) throw std::bad_alloc();
    ++oom_calls_;
    oom_handler_.fn(*this, oom_handler_.context);
    if (void* p = attempt()) return p;
  }
}

void* SmallObjectAllocator::allocate_large(std::size_t n) {
  void* p = source_->allocate(n);
  if (p == nullptr) p = retry_with_handler([&] { return source_->allocate(n); });
  heap_bytes_ += n;
  return p;
}

void SmallObjectAllocator::deallocate_large(void* p, std::size_t n) noexcept {
  heap_bytes_ -= n;
  source_->deallocate(p, n);
}

void* SmallObjectAllocator::reallocate(void* p, std::size_t old_size, std::size_t n) {
  if (p == nullptr) return allocate(n);
  if (old_size > max_small_size && n > max_small_size) return reallocate_large(p, old_size, n);
  if (old_size <= max_small_size && n <= max_small_size && class_index(old_size) == class_index(n)) return p;
  void* q = allocate(n);
  std::memcpy(q, p, std::min(old_size, n));
  deallocate(p, old_size);
  return q;
}

void* SmallObjectAllocator::reallocate_large(void* p, std::size_t old_size, std::size_t n) {
  void* q = source_->reallocate(p, old_size, n);
  if (q == nullptr) q = retry_with_handler([&] { return source_->reallocate(p, old_size, n); });
  heap_bytes_ = heap_bytes_ - old_size + n;
  return q;
}

SmallObjectAllocator::OomHandler SmallObjectAllocator::set_oom_handler(OomHandler handler) noexcept {
  return std::exchange(oom_handler_, handler);
}

SmallObjectStats SmallObjectAllocator::stats() const noexcept {
  Stats s;
  for (std::size_t i = 0; i < class_count; ++i) s.free_objects[i] = lists_[i].count;
  s.chunks = chunk_count_;
  s.chunk_bytes = heap_size_;
  s.chunk_left = static_cast<std::size_t>(chunk_end_ - chunk_start_);
  s.heap_bytes = heap_bytes_;
  s.refills = refills_;
  s.larger_list_fallbacks = fallbacks_;
  s.oom_handler_calls = oom_calls_;
  return s;
}

}  // namespace mempool
