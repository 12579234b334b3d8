#include "mempool/block_allocator.hpp"

#include <cstdio>
#include <cstdlib>
#include <new>

#include "mempool/detail/sanitizer.hpp"
#include "optional_lock.hpp"

namespace mempool {

using Guard = detail::OptionalLock;

namespace {

std::size_t page_count(const MemoryBlock* b) noexcept { return b->size / BlockAllocator::page_size; }

// Free blocks keep their header readable (the lists run through it); the payload is off limits.
void poison_payload(MemoryBlock* b) noexcept { detail::poison(b->data(), b->capacity()); }
void unpoison_payload(MemoryBlock* b) noexcept { detail::unpoison(b->data(), b->capacity()); }

}  // namespace

BlockAllocator::BlockAllocator(Options options) noexcept
    : thread_safe_(options.thread_safe), owner_(std::this_thread::get_id()) {
  max_free_.set(options.max_free);
}

BlockAllocator::~BlockAllocator() {
  take_foreign_frees();
  release_beyond(0);
  if (const std::size_t in_use = bytes_in_use(); in_use != 0) {
    std::fprintf(stderr, "mempool: BlockAllocator destroyed with %zu bytes of blocks still in use\n", in_use);
  }
}

MemoryBlock* BlockAllocator::allocate_block(std::size_t min_capacity) noexcept {
  if (min_capacity > unlimited - sizeof(MemoryBlock) - page_size) return nullptr;
  const std::size_t size = block_size_for(min_capacity);
  if (foreign_thread()) return allocate_foreign(size);
  {
    Guard guard(lock());
    if (foreign_frees_.load(std::memory_order_relaxed) != nullptr) take_foreign_frees();
    if (MemoryBlock* b = take_from_free_lists(size)) {
      bytes_free_.sub(b->size);
      bytes_taken_.add(b->size);
      blocks_reused_.add(1);
      b->next = nullptr;
      unpoison_payload(b);
      return b;
    }
  }
  // The OS call happens outside the lock: it is the slow part and needs no shared state.
  return allocate_from_os(size);
}

MemoryBlock* BlockAllocator::allocate_from_os(std::size_t size) noexcept {
  void* raw = std::malloc(size);
  Guard guard(lock());
  if (raw == nullptr) {
    os_failures_.add(1);
    return nullptr;
  }
  os_allocs_.add(1);
  bytes_taken_.add(size);
  return ::new (raw) MemoryBlock{nullptr, size};
}

// Not ours to touch the lists: straight to the OS, counted where the owner's books add it in.
MemoryBlock* BlockAllocator::allocate_foreign(std::size_t size) noexcept {
  void* raw = std::malloc(size);
  if (raw == nullptr) {
    foreign_os_failures_.fetch_add(1, std::memory_order_release);
    return nullptr;
  }
  foreign_os_allocs_.fetch_add(1, std::memory_order_release);
  foreign_bytes_taken_.fetch_add(size, std::memory_order_release);
  return ::new (raw) MemoryBlock{nullptr, size};
}

MemoryBlock* BlockAllocator::take_from_free_lists(std::size_t size) noexcept {
  const std::size_t index = size / page_size - 1;
  if (index < indexed_lists) {
    MemoryBlock* b = free_lists_[index];
    if (b) free_lists_[index] = b->next;
    return b;
  }
  // Best fit: a big block must not serve a smaller request while the next one, its size, then
  // goes to the OS (a request's read buffer growing step by step: every step a fresh block).
  // The list is short: max_free bounds it.
  MemoryBlock** best = nullptr;
  for (MemoryBlock** link = &sink_; *link; link = &(*link)->next) {
    if ((*link)->size >= size && (best == nullptr || (*link)->size < (*best)->size)) best = link;
  }
  if (best == nullptr) return nullptr;
  MemoryBlock* b = *best;
  *best = b->next;
  return b;
}

void BlockAllocator::deallocate_block(MemoryBlock* block) noexcept {
  if (block == nullptr) return;
  if (foreign_thread()) {
    push_foreign_free(block);
    return;
  }
  Guard guard(lock());
  keep_or_release(block);
}

void BlockAllocator::keep_or_release(MemoryBlock* block) noexcept {
  bytes_returned_.add(block->size);
  if (bytes_free_.get() + block->size > max_free_.get()) {
    release_to_os(block);
    return;
  }
  const std::size_t index = page_count(block) - 1;
  MemoryBlock*& list = index < indexed_lists ? free_lists_[index] : sink_;
  block->next = list;
  list = block;
  bytes_free_.add(block->size);
  poison_payload(block);
}

// A lock-free push (Treiber stack). The owner takes the whole list at once, so there is no ABA.
void BlockAllocator::push_foreign_free(MemoryBlock* block) noexcept {
  MemoryBlock* head = foreign_frees_.load(std::memory_order_relaxed);
  do {
    block->next = head;
  } while (!foreign_frees_.compare_exchange_weak(head, block, std::memory_order_release,
                                                 std::memory_order_relaxed));
}

void BlockAllocator::take_foreign_frees() noexcept {
  MemoryBlock* b = foreign_frees_.exchange(nullptr, std::memory_order_acquire);
  while (b != nullptr) {
    MemoryBlock* next = b->next;
    foreign_frees_taken_.add(1);
    keep_or_release(b);
    b = next;
  }
}

void BlockAllocator::release_to_os(MemoryBlock* block) noexcept {
  unpoison_payload(block);
  os_frees_.add(1);
  std::free(block);
}

void BlockAllocator::release_beyond(std::size_t cap) noexcept {
  // Largest blocks first: the sink, then the indexed lists from the top.
  auto drain = [&](MemoryBlock*& list) {
    while (list && bytes_free_.get() > cap) {
      MemoryBlock* b = list;
      list = b->next;
      bytes_free_.sub(b->size);
      release_to_os(b);
    }
  };
  drain(sink_);
  for (std::size_t i = indexed_lists; i-- > 0;) drain(free_lists_[i]);
}

bool BlockAllocator::trim() noexcept {
  if (foreign_thread()) return false;
  Guard guard(lock());
  take_foreign_frees();
  release_beyond(0);
  return true;
}

bool BlockAllocator::set_max_free(std::size_t bytes) noexcept {
  if (foreign_thread()) return false;
  Guard guard(lock());
  release_beyond(bytes);
  max_free_.set(bytes);  // after the shedding: a reader never sees more kept than the cap it reads
  return true;
}

// Returned before taken: every byte counted returned was counted taken before it (see Counter).
std::size_t BlockAllocator::bytes_in_use() const noexcept {
  const std::uint64_t returned = bytes_returned_.get();
  return bytes_taken_.get() + foreign_bytes_taken_.load(std::memory_order_acquire) - returned;
}

BlockAllocatorStats BlockAllocator::stats() const noexcept {
  BlockAllocatorStats s;
  s.bytes_in_use = bytes_in_use();  // blocks freed by other threads and not yet taken back count
  s.max_free = max_free_.get();
  s.bytes_free = bytes_free_.get();
  s.blocks_reused = blocks_reused_.get();
  s.os_frees = os_frees_.get();  // before os_allocs, as bytes_in_use() reads its totals
  s.os_allocs = os_allocs_.get() + foreign_os_allocs_.load(std::memory_order_acquire);
  s.os_failures = os_failures_.get() + foreign_os_failures_.load(std::memory_order_acquire);
  s.foreign_frees = foreign_frees_taken_.get();
  return s;
}

void* BlockAllocator::allocate(std::size_t n) noexcept {
  MemoryBlock* b = allocate_block(n);
  return b ? b->data() : nullptr;
}

void BlockAllocator::deallocate(void* p, std::size_t) noexcept {
  if (p) deallocate_block(static_cast<MemoryBlock*>(p) - 1);
}

BlockAllocator& BlockAllocator::shared_default() noexcept {
  // Leaked on purpose: pools with static storage duration may outlive any destruction order.
  static BlockAllocator* instance = new BlockAllocator(Options{default_max_free, true});
  return *instance;
}

}  // namespace mempool
