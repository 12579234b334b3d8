#include <mempool/block_allocator.hpp>
#include <mempool/pool.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

using mempool::BlockAllocator;
using mempool::MemoryBlock;

// Catch2 v2 assertions are not thread-safe: worker threads count failures, the main thread checks.

// A thread-safe allocator is shared by reactors: concurrent use must keep its books exact.
TEST_CASE("a thread-safe allocator serves several threads at once") {
  BlockAllocator a({.max_free = 64 * BlockAllocator::page_size, .thread_safe = true});
  constexpr int threads = 4;
  constexpr int rounds = 2000;
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&a, &failures, t] {
      std::vector<MemoryBlock*> held;
      for (int i = 0; i < rounds; ++i) {
        MemoryBlock* b = a.allocate_block(static_cast<std::size_t>(100 + (i % 3) * 5000));
        if (b == nullptr) {
          ++failures;
          return;
        }
        std::memset(b->data(), t, 64);
        held.push_back(b);
        if (held.size() > 8) {
          if (static_cast<unsigned char>(held.front()->data()[63]) != t) ++failures;
          a.deallocate_block(held.front());
          held.erase(held.begin());
        }
      }
      for (MemoryBlock* b : held) a.deallocate_block(b);
    });
  }
  for (auto& w : workers) w.join();
  CHECK(failures == 0);
  const auto s = a.stats();
  CHECK(s.bytes_in_use == 0);
  CHECK(s.bytes_free <= 64 * BlockAllocator::page_size);
  CHECK(s.os_allocs >= s.os_frees);
  REQUIRE(a.trim());  // every block still held from the OS was on a free list
  CHECK(a.stats().os_allocs == a.stats().os_frees);
}

// Pools built with no allocator share the process default from many threads.
TEST_CASE("default-constructed pools on several threads share the default allocator safely") {
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&failures] {
      for (int i = 0; i < 500; ++i) {
        mempool::Pool pool;
        auto* p = static_cast<char*>(pool.alloc(3000));
        if (p == nullptr) {
          ++failures;
          return;
        }
        std::memset(p, 1, 3000);
        if (pool.alloc(200000) == nullptr) ++failures;  // a large allocation too
      }
    });
  }
  for (auto& w : workers) w.join();
  CHECK(failures == 0);
  CHECK(BlockAllocator::shared_default().stats().bytes_in_use == 0);
}

// stats() from a monitoring thread while the owner (and a foreign thread) work: no data race
// (TSan), and every snapshot is coherent: nothing wraps, os_frees <= os_allocs.
TEST_CASE("stats read from another thread while the owner works are race-free and coherent") {
  BlockAllocator a({.max_free = 8 * BlockAllocator::page_size});
  std::atomic<bool> done{false};
  std::atomic<int> incoherent{0};
  std::atomic<MemoryBlock*> handoff{nullptr};
  std::thread monitor([&] {
    while (!done.load()) {
      const auto s = a.stats();
      if (s.bytes_in_use > (std::size_t{1} << 30) || s.os_frees > s.os_allocs || s.bytes_free > s.max_free) ++incoherent;
    }
  });
  std::atomic<bool> foreign_done{false};
  std::thread foreign([&] {  // takes blocks from the OS and hands them to the owner to free
    for (int i = 0; i < 2000; ++i) {
      MemoryBlock* b = a.allocate_block(static_cast<std::size_t>(100 + (i % 4) * 4096));
      if (b == nullptr) continue;
      MemoryBlock* expected = nullptr;
      while (!handoff.compare_exchange_weak(expected, b)) {
        expected = nullptr;
        std::this_thread::yield();
      }
    }
    foreign_done = true;
  });
  std::vector<MemoryBlock*> held;
  for (int i = 0; i < 20000; ++i) {
    held.push_back(a.allocate_block(static_cast<std::size_t>(100 + (i % 5) * 4096)));
    if (MemoryBlock* b = handoff.exchange(nullptr)) a.deallocate_block(b);
    if (held.size() > 16) {
      for (MemoryBlock* b : held) a.deallocate_block(b);
      held.clear();
    }
    if (i % 1000 == 0) REQUIRE(a.trim());
  }
  while (!foreign_done.load()) {
    if (MemoryBlock* b = handoff.exchange(nullptr)) a.deallocate_block(b);
  }
  foreign.join();
  if (MemoryBlock* b = handoff.exchange(nullptr)) a.deallocate_block(b);
  for (MemoryBlock* b : held) a.deallocate_block(b);
  done = true;
  monitor.join();
  CHECK(incoherent == 0);
  CHECK(a.stats().bytes_in_use == 0);
}
