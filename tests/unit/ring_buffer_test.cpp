// RingBuffer: FIFO items in one region (DESIGN §3.4): the cases the contract names, one by one.
// The randomised model test lives in ring_buffer_model_test.cpp (tests/model/ring_buffer_model.hpp).
#include <mempool/detail/check.hpp>
#include <mempool/detail/crash_point.hpp>
#include <mempool/detail/sanitizer.hpp>
#include <mempool/ring_buffer.hpp>
#include <mempool/shared_arena.hpp>

#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "model/guarded_memory.hpp"
#include "support/child_process.hpp"
#include "support/seed.hpp"

using mempool::RingBuffer;
using mempool::SharedArena;

using mempool::test::ChildOutcome;
using mempool::test::run_in_child;

namespace {

constexpr std::size_t unit = RingBuffer::unit;

/// Caller memory for a ring whose item area holds exactly `capacity` bytes, guarded on both sides.
class Region : public mempool::test::GuardedMemory {
 public:
  explicit Region(std::size_t capacity) : GuardedMemory(RingBuffer::region_size(capacity), 0) {}
  /// Where the item area starts: the region ends with it (control block, marks, items).
  unsigned char* items(const RingBuffer& ring) const { return start() + bytes() - ring.capacity(); }
};

/// Offset of item p's header in the item area.
std::size_t offset_of(const Region& r, const RingBuffer& ring, const void* p) {
  return static_cast<std::size_t>(static_cast<const unsigned char*>(p) - r.items(ring)) - unit;
}

bool exited_zero(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

}  // namespace

// Payloads carry protocol structs; the ring promises 16-byte alignment for every item.
TEST_CASE("RingBuffer payloads are 16-byte aligned and inside the region") {
  RingBuffer ring(4096);
  std::vector<void*> items;
  for (std::size_t n : {1, 7, 16, 17, 100, 255}) {
    void* p = ring.alloc(n);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0);
    CHECK(ring.owns(p));
    CHECK(RingBuffer::usable_size(p) >= n);
    items.push_back(p);
  }
  for (void* p : items) ring.free(p);
  CHECK(ring.stats().items_live == 0);
}

// An item that ends exactly at the region's end must be placed there, with no skip item and no
// wasted byte, and the next item must start at offset 0.
TEST_CASE("RingBuffer places an exact fit at the end and continues at offset 0 without a skip") {
  Region region(256);
  RingBuffer ring(region.start(), region.bytes());
  void* a = ring.alloc(80);  // footprint 96 at 0
  void* b = ring.alloc(64);  // footprint 80 at 96; head at 176
  ring.free(a);
  void* c = ring.alloc(64);  // footprint 80: exactly the 80 bytes left at the end
  REQUIRE(c != nullptr);
  CHECK(offset_of(region, ring, c) == 176);
  void* d = ring.alloc(48);  // footprint 64 fits in [0, 96) freed by a
  REQUIRE(d != nullptr);
  CHECK(offset_of(region, ring, d) == 0);
  CHECK(ring.stats().wraps == 0);
  CHECK(ring.stats().bytes_used == 80 + 80 + 64);
  for (void* p : {b, c, d}) ring.free(p);
}

// When the end is too short for the next item the ring must mark it with a skip item, wrap,
// and later collect the skip item with the items around it.
TEST_CASE("RingBuffer writes a skip item when the tail is too small and collects it later") {
  Region region(256);
  RingBuffer ring(region.start(), region.bytes());
  void* a = ring.alloc(80);  // [0, 96)
  void* b = ring.alloc(80);  // [96, 192); 64 bytes left at the end
  ring.free(a);
  void* c = ring.alloc(64);  // footprint 80 > 64: skip [192, 256), wrap, place at 0
  REQUIRE(c != nullptr);
  CHECK(offset_of(region, ring, c) == 0);
  RingBuffer::Stats s = ring.stats();
  CHECK(s.wraps == 1);
  CHECK(s.bytes_used == 96 + 64 + 80);  // b, the skip item, c
  CHECK(s.collected == 1);              // a
  ring.free(b);
  void* d = ring.alloc(16);  // collects b and the skip item, goes after c
  REQUIRE(d != nullptr);
  CHECK(offset_of(region, ring, d) == 80);
  s = ring.stats();
  CHECK(s.collected == 3);
  CHECK(s.bytes_used == 80 + 32);
  ring.free(c);
  ring.free(d);
  CHECK(region.guards_intact());
}

// A failed alloc must not wrap: wrapping would strand the end of the region for nothing.
TEST_CASE("RingBuffer leaves its state unchanged when a wrap would not make room") {
  Region region(256);
  RingBuffer ring(region.start(), region.bytes());
  void* a = ring.alloc(16);   // [0, 32)
  void* b = ring.alloc(160);  // [32, 208); 48 left at the end
  ring.free(a);
  CHECK(ring.alloc(48) == nullptr);  // footprint 64: neither the end (48) nor the start (32) fits
  RingBuffer::Stats s = ring.stats();
  CHECK(s.wraps == 0);
  CHECK(s.failed_fragmented == 1);   // 256 - 176 live bytes would hold 64, but not contiguously
  void* c = ring.alloc(32);  // footprint 48 still fits at the end
  REQUIRE(c != nullptr);
  CHECK(offset_of(region, ring, c) == 208);
  ring.free(b);
  ring.free(c);
}

// alloc(0) must be defined: a read of unknown size may start with an empty item and extend it.
TEST_CASE("RingBuffer alloc(0) returns a distinct live item that extend can grow") {
  RingBuffer ring(1024);
  void* a = ring.alloc(0);
  void* b = ring.alloc(0);
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a != b);
  CHECK(RingBuffer::usable_size(a) == 0);
  CHECK(ring.stats().items_live == 2);
  CHECK(ring.stats().bytes_live == 2 * unit);
  CHECK(ring.extend(b, 100));
  std::memset(b, 'x', 100);
  CHECK(RingBuffer::usable_size(b) == 112);
  ring.free(a);
  ring.free(b);
  CHECK(ring.stats().items_live == 0);
}

// The server asks for whatever a read needs; a request the ring can never hold must come back
// as nullptr (counted apart), even for sizes whose arithmetic would overflow.
TEST_CASE("RingBuffer refuses requests larger than its capacity with nullptr") {
  RingBuffer ring(1024);
  CHECK(ring.max_alloc() == 1024 - unit);
  CHECK(ring.alloc(1024) == nullptr);
  CHECK(ring.alloc(ring.max_alloc() + 1) == nullptr);
  CHECK(ring.alloc(std::numeric_limits<std::size_t>::max()) == nullptr);
  CHECK(ring.alloc(std::numeric_limits<std::size_t>::max() - 7) == nullptr);
  CHECK(ring.stats().failed_oversize == 4);
  void* whole = ring.alloc(ring.max_alloc());
  REQUIRE(whole != nullptr);
  std::memset(whole, 1, ring.max_alloc());
  ring.free(whole);
  CHECK(ring.stats().failed_full == 0);
}

// Callers fall back to a pool on failure; the stats must say whether the ring was really full
// or only fragmented by a freed item stuck behind a live one.
TEST_CASE("RingBuffer tells a full ring from a fragmented one") {
  RingBuffer ring(256);
  void* a = ring.alloc(80);  // 96
  void* b = ring.alloc(80);  // 96
  void* c = ring.alloc(48);  // 64: the ring is full
  REQUIRE(c != nullptr);
  CHECK(ring.alloc(0) == nullptr);
  CHECK(ring.stats().failed_full == 1);
  ring.free(b);  // 96 bytes free, but behind a, which is live
  CHECK(ring.alloc(16) == nullptr);
  CHECK(ring.stats().failed_fragmented == 1);
  ring.free(a);  // now a and b are collected together
  void* d = ring.alloc(160);
  CHECK(d != nullptr);
  ring.free(c);
  ring.free(d);
}

// A request head arriving in several reads grows its item in place; only the newest item can
// grow, and never across the end of the region.
TEST_CASE("RingBuffer extend grows only the newest item into contiguous room") {
  Region region(512);
  RingBuffer ring(region.start(), region.bytes());
  auto* a = static_cast<char*>(ring.alloc(10));
  std::memcpy(a, "0123456789", 10);
  CHECK(ring.extend(a, 16));   // within its rounded size: free
  CHECK(ring.extend(a, 100));  // newest: grows into the free bytes after it
  CHECK(std::memcmp(a, "0123456789", 10) == 0);
  CHECK(RingBuffer::usable_size(a) == 112);
  void* b = ring.alloc(200);  // [128, 352)
  CHECK_FALSE(ring.extend(a, 200));  // no longer the newest
  CHECK(ring.extend(b, 200 + 168));  // grows to the exact end of the region
  CHECK(offset_of(region, ring, b) + RingBuffer::footprint(368) == 512);
  CHECK_FALSE(ring.extend(b, 400));  // would straddle the end
  const RingBuffer::Stats s = ring.stats();
  CHECK(s.extends == 3);
  CHECK(s.failed_extends == 2);
  CHECK(s.bytes_live == 512);
  ring.free(a);
  ring.free(b);
}

// Reads land in the ring and the ring goes idle between requests: once every item is freed the
// whole capacity must be available again, starting at offset 0 where the cache is warm.
TEST_CASE("RingBuffer restarts at offset 0 with its full capacity once every item is freed") {
  Region region(1024);
  RingBuffer ring(region.start(), region.bytes());
  std::vector<void*> items;
  for (int i = 0; i < 5; ++i) items.push_back(ring.alloc(100));
  std::reverse(items.begin(), items.end());  // free newest first: nothing collects until the last
  for (void* p : items) ring.free(p);
  void* whole = ring.alloc(ring.max_alloc());
  REQUIRE(whole != nullptr);
  CHECK(offset_of(region, ring, whole) == 0);
  ring.free(whole);
  CHECK(ring.stats().items_live == 0);
}

// Caller memory (a reactor's static buffer) may be misaligned or tiny: the ring must align the
// start, keep its control block and marks inside the range, and with no room refuse everything.
TEST_CASE("RingBuffer over caller memory aligns its start and stays inside the range") {
  std::vector<unsigned char> raw(1000 + 2 * 64, 0xEE);
  unsigned char* memory = raw.data() + 64 + 3;
  RingBuffer ring(memory, 1000);
  CHECK(ring.capacity() % unit == 0);
  CHECK(RingBuffer::region_size(ring.capacity()) <= 1000 - 13);  // what is left after aligning the start
  CHECK(RingBuffer::region_size(ring.capacity() + unit) > 1000 - 13);  // and the largest area that fits
  void* p = ring.alloc(ring.max_alloc());
  REQUIRE(p != nullptr);
  CHECK(static_cast<unsigned char*>(p) >= memory);
  CHECK(static_cast<unsigned char*>(p) + ring.max_alloc() <= memory + 1000);
  std::memset(p, 0, ring.max_alloc());
  CHECK(ring.free(p));
  for (std::size_t i = 0; i < 64 + 3; ++i) CHECK(raw[i] == 0xEE);
  for (std::size_t i = 64 + 3 + 1000; i < raw.size(); ++i) CHECK(raw[i] == 0xEE);

  // Too small for the control block: a ring of capacity 0 whose counters live in the object.
  unsigned char tiny[8];
  RingBuffer none(tiny, sizeof tiny);
  CHECK(none.capacity() == 0);
  CHECK(none.max_alloc() == 0);
  CHECK(none.alloc(0) == nullptr);
  CHECK(none.stats().failed_oversize == 1);
  RingBuffer null_memory(nullptr, 0);
  CHECK(null_memory.alloc(1) == nullptr);
}

// Callers size a static buffer (or a shared table) with region_size(); it must be exact.
TEST_CASE("RingBuffer region_size holds exactly the requested item area") {
  for (std::size_t capacity : {std::size_t{0}, unit, std::size_t{256}, std::size_t{1008}, std::size_t{4096},
                               std::size_t{65536} + unit}) {
    Region region(capacity);
    RingBuffer exact(region.start(), region.bytes());
    CHECK(exact.capacity() == capacity);
    CHECK(region.items(exact) + capacity == region.start() + region.bytes());  // the area ends the region
    if (capacity != 0) {
      RingBuffer short_by_one(region.start(), region.bytes() - 1);
      CHECK(short_by_one.capacity() == capacity - unit);
    }
  }
  CHECK(RingBuffer::region_size(std::numeric_limits<std::size_t>::max()) == std::numeric_limits<std::size_t>::max());
}

// Generic code (the server's stats, pmr adaptors) uses the uniform verbs.
TEST_CASE("RingBuffer allocate and deallocate are alloc and free") {
  RingBuffer ring(1024);
  mempool::Allocator auto& a = ring;
  void* p = a.allocate(64);
  REQUIRE(p != nullptr);
  CHECK(ring.stats().items_live == 1);
  a.deallocate(p, 64);
  CHECK(ring.stats().frees == 1);
  CHECK(ring.stats().items_live == 0);
}

// A double free could release an item the ring already gave to someone else. It is refused and
// counted in every build, and checked builds stop at it with a message naming it.
TEST_CASE("RingBuffer refuses a double free in every build and aborts checked builds") {
  const ChildOutcome out = run_in_child([] {
    RingBuffer ring(1024);
    void* p = ring.alloc(10);
    void* keep = ring.alloc(10);  // keeps p from being collected
    const bool first = ring.free(p);
    const bool second = ring.free(p);
    const bool counted = ring.stats().bad_frees == 1 && ring.stats().items_live == 1;
    _exit(first && !second && counted && ring.free(keep) ? 0 : 1);
  });
  if (MEMPOOL_CHECKS) {
    CHECK(WIFSIGNALED(out.status));
    CHECK(WTERMSIG(out.status) == SIGABRT);
    CHECK_THAT(out.stderr_text, Catch::Contains("RingBuffer::free: double free"));
  } else {
    CHECK(exited_zero(out.status));
  }
}

// DESIGN §3.4: once a freed item's space is reused, its stale pointer lands inside a newer
// item's payload, where the bytes can look like any header at all (here: exactly like the old
// one). The ring must not trust them: the free is refused and the newer item stays live and intact.
TEST_CASE("RingBuffer refuses a stale pointer into a newer item's payload even when the bytes look like a header") {
  const ChildOutcome out = run_in_child([] {
    Region region(1024);
    RingBuffer ring(region.start(), region.bytes());
    auto* first = static_cast<unsigned char*>(ring.alloc(16));  // [0, 32)
    auto* stale = static_cast<unsigned char*>(ring.alloc(16));  // [32, 64)
    unsigned char old_header[unit];
    std::memcpy(old_header, stale - unit, unit);  // what the item's header looked like
    ring.free(first);
    ring.free(stale);
    auto* newer = static_cast<unsigned char*>(ring.alloc(200));  // the ring was empty: [0, 224)
    if (newer != first) _exit(2);
    std::memset(newer, 0x5A, 200);
    std::memcpy(stale - unit, old_header, unit);  // the payload now holds a perfect old header
    const bool refused = !ring.free(stale);
    const bool untouched = std::memcmp(stale - unit, old_header, unit) == 0;  // nothing written into the payload
    std::memset(stale - unit, 0x5A, unit);
    const bool intact = std::all_of(newer, newer + 200, [](unsigned char c) { return c == 0x5A; });
    const RingBuffer::Stats s = ring.stats();
    _exit(refused && untouched && intact && s.items_live == 1 && s.bad_frees == 1 && ring.free(newer) ? 0 : 1);
  });
  if (MEMPOOL_CHECKS) {
    CHECK(WTERMSIG(out.status) == SIGABRT);
    CHECK_THAT(out.stderr_text, Catch::Contains("not the start of a live item"));
  } else {
    CHECK(exited_zero(out.status));
  }
}

// extend of something that is not a live item must not grow whatever its header bytes describe.
TEST_CASE("RingBuffer extend refuses a freed item") {
  const ChildOutcome out = run_in_child([] {
    RingBuffer ring(1024);
    void* keep = ring.alloc(10);
    void* p = ring.alloc(10);
    ring.free(p);
    const bool refused = !ring.extend(p, 100);
    _exit(refused && ring.stats().failed_extends == 1 && ring.free(keep) ? 0 : 1);
  });
  if (MEMPOOL_CHECKS) {
    CHECK(WTERMSIG(out.status) == SIGABRT);
    CHECK_THAT(out.stderr_text, Catch::Contains("RingBuffer::extend: not a live item"));
  } else {
    CHECK(exited_zero(out.status));
  }
}

// A read that overruns its item would silently corrupt the next one; ASan builds must catch it.
TEST_CASE("RingBuffer poisons the bytes past an item and freed items under ASan") {
  if (!MEMPOOL_HAS_ASAN) {
    SUCCEED("not an AddressSanitizer build");
    return;
  }
  const ChildOutcome overrun = run_in_child([] {
    RingBuffer ring(1024);
    auto* p = static_cast<volatile char*>(ring.alloc(10));
    p[10] = 1;
  });
  CHECK_THAT(overrun.stderr_text, Catch::Contains("use-after-poison"));
  const ChildOutcome after_free = run_in_child([] {
    RingBuffer ring(1024);
    auto* p = static_cast<volatile char*>(ring.alloc(64));
    void* keep = ring.alloc(64);
    ring.free(const_cast<char*>(p));
    p[0] = 1;
    ring.free(keep);
  });
  CHECK_THAT(after_free.stderr_text, Catch::Contains("use-after-poison"));
}

// The server's pattern: the reactor thread allocates reads, a worker frees them when done. The
// allocating side collects; contents must survive until the free and every byte must come back.
TEST_CASE("RingBuffer items freed on a consumer thread are collected by the producer", "[thread]") {
  const std::uint64_t seed = mempool::test::test_seed(77);
  INFO("seed " << seed);
  RingBuffer ring(16 * 1024);
  struct Message {
    unsigned char* p;
    std::size_t n;
    unsigned char fill;
  };
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<Message> queue;
  bool done = false;
  constexpr int total = 20000;
  int corrupted = 0;

  std::thread consumer([&] {
    std::mt19937 rng(static_cast<std::uint32_t>(seed));
    std::vector<Message> held;  // frees out of order too: a few held back and released shuffled
    for (;;) {
      std::unique_lock lock(mutex);
      ready.wait(lock, [&] { return !queue.empty() || done; });
      if (queue.empty()) break;
      held.push_back(queue.front());
      queue.pop_front();
      lock.unlock();
      if (held.size() < 4 && rng() % 2) continue;
      std::shuffle(held.begin(), held.end(), rng);
      for (const Message& m : held) {
        for (std::size_t i = 0; i < m.n; ++i) corrupted += m.p[i] != m.fill;
        ring.free(m.p);
      }
      held.clear();
    }
    for (const Message& m : held) ring.free(m.p);
  });

  std::mt19937 rng(static_cast<std::uint32_t>(seed) + 1);
  std::uint64_t retries = 0;
  for (int i = 0; i < total; ++i) {
    const std::size_t n = 64 + rng() % 2048;
    void* p;
    while ((p = ring.alloc(n)) == nullptr) {
      ++retries;
      std::this_thread::yield();
    }
    const auto fill = static_cast<unsigned char>(i);
    std::memset(p, fill, n);
    {
      std::lock_guard lock(mutex);
      queue.push_back({static_cast<unsigned char*>(p), n, fill});
    }
    ready.notify_one();
  }
  {
    std::lock_guard lock(mutex);
    done = true;
  }
  ready.notify_one();
  consumer.join();

  CHECK(corrupted == 0);
  const RingBuffer::Stats s = ring.stats();
  CHECK(s.allocs == total);
  CHECK(s.frees == total);
  CHECK(s.items_live == 0);
  CHECK(s.failed_full + s.failed_fragmented == retries);
  void* whole = ring.alloc(ring.max_alloc());  // collects the last items: everything came back
  CHECK(whole != nullptr);
  ring.free(whole);
}

// --- shared rings (Swoole's shared RingBuffer): the state lives in a SharedArena mapping -------

// Swoole's use: one process allocates (a reactor's reads), another frees (a worker done with
// them), a third allocates and frees its own; the ring wraps many times under all three. Every
// item arrives intact, every process sees the same counters, and every byte comes back.
TEST_CASE("A shared RingBuffer serves forked children: one allocates, another frees") {
  constexpr std::uint32_t messages = 5000;
  constexpr std::uint32_t slots = 64;
  SharedArena arena(256 * 1024);
  RingBuffer ring(arena, 32 * 1024);
  struct Queue {  // single producer, single consumer, in the arena
    std::atomic<std::uint32_t> head, tail;
    unsigned char* item[slots];
    std::uint32_t size[slots];
  };
  auto* queue = static_cast<Queue*>(arena.calloc(sizeof(Queue)));
  REQUIRE(queue != nullptr);
  auto fill_of = [](std::uint32_t i) { return static_cast<unsigned char>(i * 7 + 1); };

  const pid_t producer = fork();
  REQUIRE(producer >= 0);
  if (producer == 0) {
    for (std::uint32_t i = 0; i < messages; ++i) {
      const std::uint32_t n = 1 + i * 37 % 700;
      unsigned char* p;
      while ((p = static_cast<unsigned char*>(ring.alloc(n))) == nullptr) sched_yield();
      std::memset(p, fill_of(i), n);
      while (queue->tail.load(std::memory_order_acquire) - queue->head.load(std::memory_order_acquire) == slots) sched_yield();
      queue->item[i % slots] = p;
      queue->size[i % slots] = n;
      queue->tail.store(i + 1, std::memory_order_release);
    }
    _exit(0);
  }
  const pid_t consumer = fork();
  REQUIRE(consumer >= 0);
  if (consumer == 0) {
    for (std::uint32_t i = 0; i < messages; ++i) {
      while (queue->tail.load(std::memory_order_acquire) == i) sched_yield();
      unsigned char* p = queue->item[i % slots];
      const std::uint32_t n = queue->size[i % slots];
      if (!std::all_of(p, p + n, [&](unsigned char b) { return b == fill_of(i); })) _exit(2);
      if (!ring.free(p)) _exit(3);
      queue->head.store(i + 1, std::memory_order_release);
    }
    _exit(0);
  }
  const pid_t churner = fork();
  REQUIRE(churner >= 0);
  if (churner == 0) {
    for (int i = 0; i < 3000; ++i) {
      if (void* p = ring.alloc(static_cast<std::size_t>(i % 300))) {
        std::memset(p, 0xCC, static_cast<std::size_t>(i % 300));
        if (!ring.free(p)) _exit(3);
      }
    }
    _exit(0);
  }
  for (pid_t pid : {producer, consumer, churner}) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(exited_zero(status));
  }
  RingBuffer::Stats s = ring.stats();
  CHECK(s.items_live == 0);
  CHECK(s.allocs >= messages);
  CHECK(s.wraps > 0);
  CHECK(s.bad_frees == 0);
  void* whole = ring.alloc(ring.max_alloc());  // collects everything: every byte came back
  CHECK(whole != nullptr);
  CHECK(ring.free(whole));
  CHECK_FALSE(ring.stats().broken);
  CHECK(arena.free(queue));
}

// DESIGN §3.8's rule for shared state: a process killed inside a shared ring's alloc must not
// leave the others a half-updated ring. The ring cannot tell how far the update got, so it says
// it is broken and refuses every alloc and extend from then on; the arena itself carries on.
TEST_CASE("A shared RingBuffer whose process dies mid-update is broken and refuses every alloc") {
  SharedArena arena(64 * 1024);
  RingBuffer ring(arena, 16 * 1024);
  void* before = ring.alloc(100);
  REQUIRE(before != nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    mempool::detail::crash_point_hook = [] { raise(SIGKILL); };  // inside the ring's update
    (void)ring.alloc(100);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  CHECK(ring.alloc(10) == nullptr);
  CHECK_FALSE(ring.extend(before, 200));
  const RingBuffer::Stats s = ring.stats();
  CHECK(s.broken);
  CHECK(s.allocs == 2);  // the counters are still there to read; the items are not walked
  CHECK(arena.stats().owner_deaths == 1);
  CHECK(arena.verify());  // the arena around the ring is whole
  void* other = arena.alloc(1000);
  CHECK(other != nullptr);
  CHECK(arena.free(other));
}

// The region goes back to the arena with the creating process's ring, never with a child's copy.
TEST_CASE("A shared RingBuffer gives its region back when the creating process destroys it") {
  SharedArena arena(64 * 1024);
  {
    RingBuffer ring(arena, 16 * 1024);
    CHECK(arena.stats().allocations_live == 1);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ring.~RingBuffer();  // a child's copy going away
      _exit(arena.stats().allocations_live == 1 ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(exited_zero(status));
    void* p = ring.alloc(64);  // still the parent's, whole
    CHECK(p != nullptr);
    CHECK(ring.free(p));
  }
  CHECK(arena.available() == arena.capacity());
  CHECK_THROWS_AS(RingBuffer(arena, 1 << 20), std::bad_alloc);  // larger than the arena
}
