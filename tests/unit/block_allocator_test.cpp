#include <mempool/block_allocator.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <limits>
#include <thread>
#include <vector>

using mempool::BlockAllocator;
using mempool::MemoryBlock;

// Pools size their blocks in pages; a block smaller than asked would be overrun.
TEST_CASE("blocks are whole pages and hold at least the requested bytes") {
  BlockAllocator a;
  for (std::size_t want : {std::size_t{0}, std::size_t{1}, BlockAllocator::page_size - sizeof(MemoryBlock),
                           BlockAllocator::page_size - sizeof(MemoryBlock) + 1, std::size_t{100000}}) {
    MemoryBlock* b = a.allocate_block(want);
    REQUIRE(b != nullptr);
    CHECK(b->size % BlockAllocator::page_size == 0);
    CHECK(b->capacity() >= want);
    CHECK(b->size - BlockAllocator::page_size < want + sizeof(MemoryBlock));  // smallest that fits
    a.deallocate_block(b);
  }
}

// The point of the allocator: a returned block serves the next request without the OS.
TEST_CASE("a returned block is reused from its free list") {
  BlockAllocator a;
  MemoryBlock* first = a.allocate_block(5000);
  a.deallocate_block(first);
  MemoryBlock* second = a.allocate_block(5000);
  CHECK(second == first);
  CHECK(a.stats().os_allocs == 1);
  CHECK(a.stats().blocks_reused == 1);
  a.deallocate_block(second);
}

// Free lists are exact by size: a 1-page request must not take a 2-page block.
TEST_CASE("free lists are indexed by page count") {
  BlockAllocator a;
  MemoryBlock* two = a.allocate_block(2 * BlockAllocator::page_size - sizeof(MemoryBlock));
  a.deallocate_block(two);
  MemoryBlock* one = a.allocate_block(100);
  CHECK(one != two);
  CHECK(one->size == BlockAllocator::page_size);
  a.deallocate_block(one);
  CHECK(a.stats().bytes_free == 3 * BlockAllocator::page_size);
}

// Blocks beyond the indexed lists go to the sink list and are still reused.
TEST_CASE("blocks larger than the indexed lists are reused from the sink") {
  BlockAllocator a;
  const std::size_t big = (BlockAllocator::indexed_lists + 8) * BlockAllocator::page_size;
  MemoryBlock* b = a.allocate_block(big);
  a.deallocate_block(b);
  MemoryBlock* again = a.allocate_block(big - BlockAllocator::page_size);
  CHECK(again == b);
  a.deallocate_block(again);
}

// APR's unlimited default made httpd keep its peak forever: retained bytes must stay capped.
TEST_CASE("retained bytes never exceed max_free - the excess goes back to the OS") {
  BlockAllocator a({.max_free = 4 * BlockAllocator::page_size});
  std::vector<MemoryBlock*> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(a.allocate_block(100));
  for (MemoryBlock* b : blocks) a.deallocate_block(b);
  const auto s = a.stats();
  CHECK(s.bytes_free == 4 * BlockAllocator::page_size);
  CHECK(s.os_frees == 6);
  CHECK(s.bytes_in_use == 0);
}

// Lowering the cap at run time must shed memory now, not at the next return.
TEST_CASE("lowering max_free releases retained blocks at once") {
  BlockAllocator a;
  std::vector<MemoryBlock*> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(a.allocate_block(100));
  for (MemoryBlock* b : blocks) a.deallocate_block(b);
  REQUIRE(a.stats().bytes_free == 8 * BlockAllocator::page_size);
  CHECK(a.set_max_free(2 * BlockAllocator::page_size));
  CHECK(a.stats().bytes_free == 2 * BlockAllocator::page_size);
  CHECK(a.trim());
  CHECK(a.stats().bytes_free == 0);
  CHECK(a.stats().os_frees == 8);
}

// max_free = 0 is a valid setting: keep nothing.
TEST_CASE("max_free of zero keeps no block") {
  BlockAllocator a({.max_free = 0});
  a.deallocate_block(a.allocate_block(1));
  CHECK(a.stats().bytes_free == 0);
  CHECK(a.stats().os_frees == 1);
}

// An impossible request must fail cleanly, never wrap around to a tiny block.
TEST_CASE("an impossible block size returns nullptr") {
  BlockAllocator a;
  CHECK(a.allocate_block(std::numeric_limits<std::size_t>::max()) == nullptr);
  CHECK(a.allocate_block(std::numeric_limits<std::size_t>::max() - 100) == nullptr);
  CHECK(a.stats().bytes_in_use == 0);
}

// The concept's verbs hand out block payloads and take them back.
TEST_CASE("allocate and deallocate hand out block payloads") {
  BlockAllocator a;
  void* p = a.allocate(10000);
  REQUIRE(p != nullptr);
  std::memset(p, 0xab, 10000);
  CHECK(a.stats().bytes_in_use == 3 * BlockAllocator::page_size);
  a.deallocate(p, 10000);
  CHECK(a.stats().bytes_in_use == 0);
}

// A foreign thread's block comes from the OS; when the owner hands it back to the OS the books
// must still balance: os_frees never exceeds os_allocs, bytes_in_use never wraps below zero.
TEST_CASE("blocks another thread took from the OS are counted when the owner releases them") {
  BlockAllocator a({.max_free = 0});
  MemoryBlock* b = nullptr;
  std::thread other([&] { b = a.allocate_block(100); });
  other.join();
  REQUIRE(b != nullptr);
  CHECK(a.stats().os_allocs == 1);
  CHECK(a.stats().bytes_in_use == BlockAllocator::page_size);
  a.deallocate_block(b);  // on the owner: straight back to the OS (max_free 0)
  const auto s = a.stats();
  CHECK(s.os_frees == 1);
  CHECK(s.os_allocs == 1);
  CHECK(s.bytes_in_use == 0);
}

// trim() and set_max_free() walk the owner's lists: another thread's call is refused, not raced.
TEST_CASE("trim and set_max_free from another thread are refused on a single-owner allocator") {
  BlockAllocator a;
  a.deallocate_block(a.allocate_block(100));
  REQUIRE(a.stats().bytes_free == BlockAllocator::page_size);
  bool trimmed = true, capped = true;
  std::thread other([&] {
    trimmed = a.trim();
    capped = a.set_max_free(0);
  });
  other.join();
  CHECK_FALSE(trimmed);
  CHECK_FALSE(capped);
  CHECK(a.stats().bytes_free == BlockAllocator::page_size);
  CHECK(a.stats().max_free == BlockAllocator::default_max_free);
  CHECK(a.trim());  // the owner may
  CHECK(a.stats().bytes_free == 0);
}

// A shared (thread-safe) allocator takes both calls from any thread.
TEST_CASE("trim and set_max_free work from any thread on a thread-safe allocator") {
  BlockAllocator a({.thread_safe = true});
  a.deallocate_block(a.allocate_block(100));
  a.deallocate_block(a.allocate_block(5000));
  bool trimmed = false, capped = false;
  std::thread other([&] {
    capped = a.set_max_free(BlockAllocator::page_size);
    trimmed = a.trim();
  });
  other.join();
  CHECK(capped);
  CHECK(trimmed);
  CHECK(a.stats().bytes_free == 0);
  CHECK(a.stats().max_free == BlockAllocator::page_size);
}
