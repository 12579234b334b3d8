#include <mempool/block_allocator.hpp>
#include <mempool/pool.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <thread>
#include <vector>

using mempool::BlockAllocator;
using mempool::MemoryBlock;

// A thread-safe allocator is shared by reactors: concurrent use must keep its books exact.
TEST_CASE("a thread-safe allocator serves several threads at once") {
  BlockAllocator a({.max_free = 64 * BlockAllocator::page_size, .thread_safe = true});
  constexpr int threads = 4;
  constexpr int rounds = 2000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&a, t] {
      std::vector<MemoryBlock*> held;
      for (int i = 0; i < rounds; ++i) {
        MemoryBlock* b = a.allocate_block(static_cast<std::size_t>(100 + (i % 3) * 5000));
        REQUIRE(b != nullptr);
        std::memset(b->data(), t, 64);
        held.push_back(b);
        if (held.size() > 8) {
          CHECK(static_cast<unsigned char>(held.front()->data()[63]) == t);
          a.deallocate_block(held.front());
          held.erase(held.begin());
        }
      }
      for (MemoryBlock* b : held) a.deallocate_block(b);
    });
  }
  for (auto& w : workers) w.join();
  const auto s = a.stats();
  CHECK(s.bytes_in_use == 0);
  CHECK(s.bytes_free <= 64 * BlockAllocator::page_size);
  CHECK(s.os_allocs >= s.os_frees);
  a.trim();  // every block still held from the OS was on a free list
  CHECK(a.stats().os_allocs == a.stats().os_frees);
}

// Pools built with no allocator share the process default from many threads.
TEST_CASE("default-constructed pools on several threads share the default allocator safely") {
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([] {
      for (int i = 0; i < 500; ++i) {
        mempool::Pool pool;
        auto* p = static_cast<char*>(pool.alloc(3000));
        REQUIRE(p != nullptr);
        std::memset(p, 1, 3000);
        REQUIRE(pool.alloc(20000) != nullptr);  // a large allocation too
      }
    });
  }
  for (auto& w : workers) w.join();
  CHECK(BlockAllocator::shared_default().stats().bytes_in_use == 0);
}
