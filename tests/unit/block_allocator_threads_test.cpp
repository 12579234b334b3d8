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
  a.trim();  // every block still held from the OS was on a free list
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
