/// \file
/// HandlerMemory: where Asio keeps the state of each asynchronous operation (the handler of an
/// async_wait, say), recycled per reactor so that async operations never touch the global heap
/// (DESIGN §4). Slices of a FixedPool; a larger request (none of ours) goes to the heap, counted.
/// Single-threaded: one per reactor, used on its thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include <mempool/fixed_pool.hpp>

namespace mempool::server {

class HandlerMemory {
 public:
  /// Room for `slices` operations at once: one per connection plus a few for the reactor.
  explicit HandlerMemory(std::size_t slices) : slices_(slice_size, slices) {}

  void* allocate(std::size_t n) {
    if (void* p = slices_.alloc(n)) return p;
    ++heap_allocations_;
    return ::operator new(n);
  }
  void deallocate(void* p, std::size_t n) noexcept {
    if (slices_.owns(p)) {
      slices_.free(p);
    } else {
      ::operator delete(p, n);
    }
  }

  FixedPoolStats stats() const noexcept { return slices_.stats(); }
  std::uint64_t heap_allocations() const noexcept { return heap_allocations_; }

  /// Big enough for Asio's reactive wait operation with our handlers (checked by a test).
  static constexpr std::size_t slice_size = 256;

 private:
  FixedPool slices_;
  std::uint64_t heap_allocations_ = 0;  ///< requests too big for a slice, or slices exhausted
};

/// The allocator Asio finds associated with our completion handlers (asio::bind_allocator).
template <class T>
class HandlerAllocator {
 public:
  using value_type = T;
  explicit HandlerAllocator(HandlerMemory& memory) noexcept : memory_(&memory) {}
  template <class U>
  HandlerAllocator(const HandlerAllocator<U>& other) noexcept : memory_(&other.memory()) {}

  T* allocate(std::size_t n) { return static_cast<T*>(memory_->allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { memory_->deallocate(p, n * sizeof(T)); }
  HandlerMemory& memory() const noexcept { return *memory_; }

  template <class U>
  bool operator==(const HandlerAllocator<U>& other) const noexcept {
    return memory_ == &other.memory();
  }

 private:
  HandlerMemory* memory_;
};

}  // namespace mempool::server
