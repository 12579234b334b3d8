#include <mempool/small_object_allocator.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <list>
#include <map>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "mempool/detail/align.hpp"
#include "model/small_object_model.hpp"
#include "support/seed.hpp"

using mempool::SmallObjectAllocator;
using mempool::SmallObjectStats;
using mempool::test::HandlerScript;
using mempool::test::scripted_handler;
using mempool::test::TestSource;

namespace {

std::size_t free_list_bytes(const SmallObjectStats& s) {
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < s.free_objects.size(); ++i) bytes += s.free_objects[i] * (i + 1) * 8;
  return bytes;
}

// SGI's growth rule, written out independently of the allocator.
std::size_t sgi_chunk_bytes(std::size_t object_size, std::size_t heap_size) {
  return 2 * object_size * 20 + ((heap_size >> 4) + 7) / 8 * 8;
}

char* as_bytes(void* p) { return static_cast<char*>(p); }

}  // namespace

// The 16 size classes are the allocator's whole layout: each size must land in the right one.
TEST_CASE("sizes round up to a multiple of 8 and map to one of 16 free lists") {
  CHECK(SmallObjectAllocator::size_class(0) == 8);
  CHECK(SmallObjectAllocator::size_class(1) == 8);
  CHECK(SmallObjectAllocator::size_class(8) == 8);
  CHECK(SmallObjectAllocator::size_class(9) == 16);
  CHECK(SmallObjectAllocator::size_class(127) == 128);
  CHECK(SmallObjectAllocator::size_class(128) == 128);
  CHECK(SmallObjectAllocator::class_index(0) == 0);
  CHECK(SmallObjectAllocator::class_index(16) == 1);
  CHECK(SmallObjectAllocator::class_index(17) == 2);
  CHECK(SmallObjectAllocator::class_index(128) == 15);
  CHECK(SmallObjectAllocator::class_count == 16);
}

// Nodes hold pointers and 8-byte integers; objects over 128 bytes come from malloc.
TEST_CASE("small objects are 8-aligned and large ones aligned as the heap aligns") {
  SmallObjectAllocator a;
  std::vector<std::pair<void*, std::size_t>> held;
  for (std::size_t n = 0; n <= 128; ++n) {
    void* p = a.allocate(n);
    REQUIRE(mempool::detail::is_aligned(p, SmallObjectAllocator::alignment));
    std::memset(p, 1, n);
    held.emplace_back(p, n);
  }
  for (std::size_t n : {129, 200, 1000, 70000}) {
    void* p = a.allocate(n);
    REQUIRE(mempool::detail::is_aligned(p, alignof(std::max_align_t)));
    std::memset(p, 2, n);
    held.emplace_back(p, n);
  }
  for (auto [p, n] : held) a.deallocate(p, n);
  CHECK(a.stats().heap_bytes == 0);
}

// SGI's point: one trip to the chunk serves the next 19 requests of that size.
TEST_CASE("an empty free list is refilled with 20 objects carved side by side") {
  TestSource source;
  SmallObjectAllocator a({.source = &source});
  std::vector<char*> objects{as_bytes(a.allocate(32))};
  CHECK(a.stats().refills == 1);
  CHECK(a.stats().free_objects[3] == 19);
  for (int i = 1; i < 20; ++i) {
    objects.push_back(as_bytes(a.allocate(32)));
    CHECK(objects.back() == objects[objects.size() - 2] + 32);
  }
  CHECK(a.stats().refills == 1);
  CHECK(a.stats().free_objects[3] == 0);
  objects.push_back(as_bytes(a.allocate(32)));
  CHECK(a.stats().refills == 2);
  // The first chunk (1280 bytes, 16 of them its header) has 624 left: "up to 20" means 19 here.
  CHECK(a.stats().free_objects[3] == 18);
  CHECK(source.requests == std::vector<std::size_t>{1280});
  for (char* p : objects) a.deallocate(p, 32);
}

// The chunk grows with what was already taken, so a busy allocator asks the system ever less often.
TEST_CASE("chunks grow by twice the refill plus a sixteenth of all chunk bytes so far") {
  TestSource source;
  SmallObjectAllocator a({.source = &source});
  std::vector<void*> held;
  for (int i = 0; i < 300; ++i) held.push_back(a.allocate(128));
  REQUIRE(source.requests.size() >= 5);
  CHECK(source.requests[0] == 5120);  // 2 × 20 × 128, nothing taken yet
  CHECK(source.requests[1] == 5440);  // 5120 + 5120 / 16
  std::size_t heap = 0;
  for (std::size_t request : source.requests) {
    CHECK(request == sgi_chunk_bytes(128, heap));
    heap += request;
  }
  CHECK(a.stats().chunk_bytes == heap);
  CHECK(a.stats().chunks == source.requests.size());
  for (void* p : held) a.deallocate(p, 128);
}

// Mixed sizes: every chunk request must follow the rule for the size whose refill asked for it.
TEST_CASE("every chunk request follows the growth rule for the size that triggered it") {
  const std::uint64_t seed = mempool::test::test_seed(0x5e1f);
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  TestSource source;
  SmallObjectAllocator a({.source = &source});
  std::vector<std::pair<void*, std::size_t>> held;
  std::size_t heap = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::size_t n = 1 + rng() % 128;
    const std::size_t before = source.requests.size();
    held.emplace_back(a.allocate(n), n);
    if (source.requests.size() != before) {
      REQUIRE(source.requests.size() == before + 1);
      CHECK(source.requests.back() == sgi_chunk_bytes(SmallObjectAllocator::size_class(n), heap));
      heap += source.requests.back();
    }
  }
  CHECK(a.stats().chunk_bytes == heap);
  for (auto [p, n] : held) a.deallocate(p, n);
}

// Nothing of a chunk is wasted: its tail, too short for the object wanted, serves a smaller size.
TEST_CASE("the leftover of a short chunk goes onto the free list of its size") {
  TestSource source;
  SmallObjectAllocator a({.source = &source});
  void* first = a.allocate(8);                  // chunk of 320 - 16 header: 20 × 8 carved, 144 left
  char* one = as_bytes(a.allocate(128));        // 144 left: a single 128 carved, 16 left
  CHECK(a.stats().chunk_left == 16);
  CHECK(a.stats().free_objects[15] == 0);
  void* other = a.allocate(24);                 // 16 < 24: the tail goes to the 16-byte list
  CHECK(source.requests == std::vector<std::size_t>{320, 984});
  CHECK(a.stats().free_objects[1] == 1);
  void* tail = a.allocate(16);
  CHECK(tail == one + 128);
  a.deallocate(first, 8);
  a.deallocate(one, 128);
  a.deallocate(other, 24);
  a.deallocate(tail, 16);
}

// When the system says no, free memory already held in larger objects is used first (SGI).
TEST_CASE("a refused chunk is replaced by a free object of a larger list") {
  TestSource source;
  SmallObjectAllocator a({.source = &source});
  void* first = a.allocate(8);                  // chunk of 320: 144 left after the refill
  char* big = as_bytes(a.allocate(64));         // 144 left: two 64s carved, one on the list; 16 left
  CHECK(a.stats().free_objects[7] == 1);
  source.refusals = -1;
  char* half = as_bytes(a.allocate(32));        // refused: the free 64 is carved into two 32s
  CHECK(half == big + 64);
  SmallObjectStats s = a.stats();
  CHECK(s.larger_list_fallbacks == 1);
  CHECK(s.free_objects[7] == 0);
  CHECK(s.free_objects[3] == 1);
  CHECK(s.free_objects[1] == 1);                // the 16-byte tail of the chunk
  CHECK(s.chunks == 1);
  CHECK(s.oom_handler_calls == 0);
  char* other_half = as_bytes(a.allocate(32));
  CHECK(other_half == big + 96);
  // Only a 16-byte object is left, too small for 32: with no handler the request fails.
  CHECK_THROWS_AS(a.allocate(32), std::bad_alloc);
  a.deallocate(first, 8);
  a.deallocate(big, 64);
  a.deallocate(half, 32);
  a.deallocate(other_half, 32);
}

// Like std::set_new_handler: the handler gets as many chances as it needs to find memory.
TEST_CASE("the out-of-memory handler is called until the source gives memory") {
  TestSource source;
  source.refusals = -1;
  HandlerScript script{.source = &source, .release_memory_at = 3};
  SmallObjectAllocator a({.source = &source, .oom_handler = {&scripted_handler, &script}});
  void* small = a.allocate(8);
  CHECK(script.calls == 3);
  CHECK(a.stats().oom_handler_calls == 3);
  CHECK(source.requests == std::vector<std::size_t>(4, 320));  // the first try, then one per call
  CHECK(a.stats().chunks == 1);

  // Requests over 128 bytes go through the same loop.
  source.refusals = -1;
  script.calls = 0;
  script.release_memory_at = 2;
  void* large = a.allocate(500);
  CHECK(script.calls == 2);
  CHECK(a.stats().oom_handler_calls == 5);
  CHECK(a.stats().heap_bytes == 500);
  a.deallocate(small, 8);
  a.deallocate(large, 500);
}

// A handler that cannot help must be able to stop the loop; the caller then sees bad_alloc.
TEST_CASE("allocate throws bad_alloc once the handler gives up and recovers later") {
  TestSource source;
  source.refusals = -1;
  HandlerScript script{.source = &source, .give_up_at = 2};
  SmallObjectAllocator a({.source = &source, .oom_handler = {&scripted_handler, &script}});
  CHECK_THROWS_AS(a.allocate(8), std::bad_alloc);
  CHECK(script.calls == 2);
  CHECK(a.stats().oom_handler_calls == 2);
  CHECK(a.stats().chunks == 0);
  CHECK_THROWS_AS(a.allocate(1000), std::bad_alloc);  // no handler any more: at once
  CHECK(a.stats().oom_handler_calls == 2);
  source.refusals = 0;
  void* p = a.allocate(8);
  CHECK(p != nullptr);
  a.deallocate(p, 8);
}

// set_oom_handler swaps handlers the way std::set_new_handler does.
TEST_CASE("set_oom_handler returns the handler it replaces") {
  HandlerScript script;
  SmallObjectAllocator a({.oom_handler = {&scripted_handler, &script}});
  const auto previous = a.set_oom_handler({});
  CHECK(previous.fn == &scripted_handler);
  CHECK(previous.context == &script);
  CHECK_FALSE(static_cast<bool>(a.set_oom_handler(previous)));
}

// Without a handler there is nothing to wait for: fail on the first refusal.
TEST_CASE("without a handler a refused request throws bad_alloc at once") {
  TestSource source;
  source.refusals = -1;
  SmallObjectAllocator a({.source = &source});
  CHECK_THROWS_AS(a.allocate(64), std::bad_alloc);
  CHECK_THROWS_AS(a.allocate(129), std::bad_alloc);
  CHECK(source.requests == std::vector<std::size_t>{2 * 64 * 20, 129});
  CHECK(a.stats() == SmallObjectStats{});
}

// Big objects gain nothing from size classes: they go to the source one by one, counted.
TEST_CASE("requests over 128 bytes go straight to the source") {
  TestSource source;
  SmallObjectAllocator a({.source = &source});
  void* p = a.allocate(129);
  void* q = a.allocate(4096);
  CHECK(source.requests == std::vector<std::size_t>{129, 4096});
  CHECK(a.stats().heap_bytes == 129 + 4096);
  CHECK(a.stats().chunks == 0);
  a.deallocate(p, 129);
  a.deallocate(q, 4096);
  CHECK(a.stats().heap_bytes == 0);
  CHECK(source.live_bytes == 0);
}

// A size no object can have must fail cleanly, not wrap around or abort.
TEST_CASE("an impossible size throws bad_alloc") {
  SmallObjectAllocator a;
  CHECK_THROWS_AS(a.allocate(std::numeric_limits<std::size_t>::max()), std::bad_alloc);
  CHECK(a.stats().heap_bytes == 0);
  mempool::SmallObjectStlAllocator<std::uint64_t> typed(a);
  CHECK_THROWS_AS(typed.allocate(std::numeric_limits<std::size_t>::max() / 4), std::bad_array_new_length);
}

// allocate(0) is defined: a distinct object of the smallest class.
TEST_CASE("a zero-byte request gets a distinct 8-byte object") {
  SmallObjectAllocator a;
  char* p = as_bytes(a.allocate(0));
  char* q = as_bytes(a.allocate(0));
  REQUIRE(p != nullptr);
  CHECK(q == p + 8);
  const std::size_t free_before = a.stats().free_objects[0];
  a.deallocate(p, 0);
  a.deallocate(q, 0);
  CHECK(a.stats().free_objects[0] == free_before + 2);
}

// deallocate(nullptr, n) is what a moved-from container may do: it must be harmless.
TEST_CASE("deallocating nullptr does nothing") {
  SmallObjectAllocator a;
  a.deallocate(nullptr, 8);
  a.deallocate(nullptr, 1000);
  CHECK(a.stats() == SmallObjectStats{});
}

// A string growing inside its size class must not move (SGI reallocate).
TEST_CASE("reallocate within one size class keeps the pointer") {
  SmallObjectAllocator a;
  void* p = a.allocate(20);
  CHECK(a.reallocate(p, 20, 24) == p);
  CHECK(a.reallocate(p, 24, 17) == p);
  a.deallocate(p, 17);
}

// Across classes the bytes move and the old object goes back to its list.
TEST_CASE("reallocate across size classes copies the bytes and frees the old object") {
  SmallObjectAllocator a;
  char* p = as_bytes(a.allocate(16));
  std::memset(p, 'a', 16);
  const std::size_t free16 = a.stats().free_objects[1];
  char* grown = as_bytes(a.reallocate(p, 16, 100));
  CHECK(grown != p);
  CHECK(std::all_of(grown, grown + 16, [](char c) { return c == 'a'; }));
  CHECK(a.stats().free_objects[1] == free16 + 1);
  std::memset(grown, 'b', 100);
  char* shrunk = as_bytes(a.reallocate(grown, 100, 4));
  CHECK(std::all_of(shrunk, shrunk + 4, [](char c) { return c == 'b'; }));
  char* large = as_bytes(a.reallocate(shrunk, 4, 300));  // small to large
  CHECK(std::all_of(large, large + 4, [](char c) { return c == 'b'; }));
  CHECK(a.stats().heap_bytes == 300);
  std::memset(large, 'c', 300);
  char* small = as_bytes(a.reallocate(large, 300, 50));  // large to small
  CHECK(std::all_of(small, small + 50, [](char c) { return c == 'c'; }));
  CHECK(a.stats().heap_bytes == 0);
  a.deallocate(small, 50);
}

// Two large sizes are the source's business: it may grow the block in place (realloc).
TEST_CASE("reallocate between two large sizes uses the source's reallocate") {
  TestSource source;
  SmallObjectAllocator a({.source = &source});
  char* p = as_bytes(a.allocate(200));
  std::memset(p, 'x', 200);
  char* q = as_bytes(a.reallocate(p, 200, 5000));
  CHECK(source.reallocations == 1);
  CHECK(std::all_of(q, q + 200, [](char c) { return c == 'x'; }));
  CHECK(a.stats().heap_bytes == 5000);
  CHECK(source.live_bytes == 5000);
  a.deallocate(q, 5000);
}

// On failure the caller still owns its bytes, as with std::realloc.
TEST_CASE("a reallocate that fails throws and leaves the old object intact") {
  TestSource source;
  SmallObjectAllocator a({.source = &source});
  char* large = as_bytes(a.allocate(200));
  char* small = as_bytes(a.allocate(16));
  std::memset(large, 'l', 200);
  std::memset(small, 's', 16);
  source.refusals = -1;
  CHECK_THROWS_AS(a.reallocate(large, 200, 400), std::bad_alloc);
  CHECK_THROWS_AS(a.reallocate(small, 16, 1000), std::bad_alloc);
  CHECK(std::all_of(large, large + 200, [](char c) { return c == 'l'; }));
  CHECK(std::all_of(small, small + 16, [](char c) { return c == 's'; }));
  CHECK(a.stats().heap_bytes == 200);
  a.deallocate(large, 200);
  a.deallocate(small, 16);
}

// reallocate(nullptr, ...) is allocate, as realloc(NULL, n) is malloc.
TEST_CASE("reallocate of nullptr allocates") {
  SmallObjectAllocator a;
  void* p = a.reallocate(nullptr, 0, 40);
  REQUIRE(p != nullptr);
  a.deallocate(p, 40);
}

// Chunks are the allocator's own: when it dies they all go back to the source.
TEST_CASE("destruction gives every chunk back to the source") {
  TestSource source;
  {
    SmallObjectAllocator a({.source = &source});
    for (std::size_t n = 1; n <= 128; ++n) {
      for (int i = 0; i < 30; ++i) (void)a.allocate(n);  // small objects die with their chunks
    }
    a.deallocate(a.allocate(1000), 1000);
    CHECK(source.live_bytes == a.stats().chunk_bytes);
    CHECK(a.stats().chunks > 1);
  }
  CHECK(source.live_bytes == 0);
}

// The STL adaptor's reason to exist: a list's nodes come from the free lists, not from malloc.
TEST_CASE("std::list allocates its nodes from the SmallObjectAllocator") {
  SmallObjectAllocator objects;
  using Alloc = mempool::SmallObjectStlAllocator<int>;
  std::list<int, Alloc> numbers{Alloc(objects)};
  for (int i = 0; i < 1000; ++i) numbers.push_back(i);
  CHECK(objects.stats().refills > 0);
  numbers.remove_if([](int x) { return x % 2 == 0; });
  CHECK(numbers.size() == 500);
  CHECK(numbers.front() == 1);
  CHECK(numbers.back() == 999);
  const auto free_before = free_list_bytes(objects.stats());
  numbers.clear();
  CHECK(free_list_bytes(objects.stats()) == free_before + 500 * SmallObjectAllocator::size_class(24));
  CHECK(objects.stats().heap_bytes == 0);
}

// A map node (tree links + pair<const int, std::string>) is still a small object.
TEST_CASE("std::map allocates its nodes from the SmallObjectAllocator") {
  SmallObjectAllocator objects;
  using Alloc = mempool::SmallObjectStlAllocator<std::pair<const int, std::string>>;
  std::map<int, std::string, std::less<>, Alloc> routes{Alloc(objects)};
  for (int i = 0; i < 500; ++i) routes.emplace(i * 7 % 500, "/route/number/" + std::to_string(i));
  CHECK(routes.size() == 500);
  CHECK(routes.at(7) == "/route/number/1");
  CHECK(objects.stats().refills > 0);
  CHECK(objects.stats().heap_bytes == 0);
  for (int i = 0; i < 500; i += 2) routes.erase(i);
  CHECK(routes.size() == 250);
  CHECK(routes.find(2) == routes.end());
  CHECK(routes.at(1) == "/route/number/143");  // 143 × 7 = 1001 ≡ 1 (mod 500)
}

// Containers rebind the allocator to their node type; copies must still share the allocator.
TEST_CASE("the STL adaptor compares equal exactly when it shares the allocator even across rebinding") {
  SmallObjectAllocator one;
  SmallObjectAllocator two;
  mempool::SmallObjectStlAllocator<int> a(one);
  mempool::SmallObjectStlAllocator<double> rebound(a);
  CHECK(a == rebound);
  CHECK(&rebound.allocator() == &one);
  CHECK_FALSE(a == mempool::SmallObjectStlAllocator<int>(two));
  CHECK(a != mempool::SmallObjectStlAllocator<int>(two));
}
