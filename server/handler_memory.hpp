/// \file
/// HandlerMemory: where Asio keeps the state of the reactor's own asynchronous operations (its
/// accept and its tick timer), recycled per reactor so that they never touch the global heap
/// (DESIGN §4). Connections need none: their one wait lives inside them (readiness_wait.hpp).
/// Two FixedPools: small slices (a timer wait) and large ones (an accept). Anything bigger, or
/// beyond the slices, goes to the heap, counted.
/// Single-threaded: one per reactor, used on its thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include <mempool/fixed_pool.hpp>

namespace mempool::server {

class HandlerMemory {
 public:
  static constexpr std::size_t small_slice = 128;
  static constexpr std::size_t large_slice = 512;

  /// Room for `waits` small operations at once, and 16 large ones.
  explicit HandlerMemory(std::size_t waits) : small_(small_slice, waits), large_(large_slice, 16) {}

  void* allocate(std::size_t n) {
    if (void* p = n <= small_slice ? small_.alloc(n) : large_.alloc(n)) return p;
    ++heap_allocations_;
    return ::operator new(n);
  }
  void deallocate(void* p, std::size_t n) noexcept {
    if (small_.owns(p)) {
      small_.free(p);
    } else if (large_.owns(p)) {
      large_.free(p);
    } else {
      ::operator delete(p, n);
    }
  }

  FixedPoolStats stats() const noexcept { return small_.stats(); }
  FixedPoolStats large_stats() const noexcept { return large_.stats(); }
  std::uint64_t heap_allocations() const noexcept { return heap_allocations_; }

 private:
  FixedPool small_;
  FixedPool large_;
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
