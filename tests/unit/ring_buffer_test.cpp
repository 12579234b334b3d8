// RingBuffer: FIFO items in one region (DESIGN §3.4). The randomised test checks every result
// against an interval model built from the contract alone: items in allocation order, space
// back once the oldest are free, a wrap to offset 0 when the end is too short.
#include <mempool/detail/check.hpp>
#include <mempool/detail/sanitizer.hpp>
#include <mempool/ring_buffer.hpp>

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.hpp"
#include "support/seed.hpp"

using mempool::RingBuffer;

using mempool::test::ChildOutcome;
using mempool::test::run_in_child;

namespace {

constexpr std::size_t unit = RingBuffer::unit;

/// Caller memory for a ring, with guard bytes on both sides that must never change.
class Region {
 public:
  static constexpr std::size_t guard = 64;
  static constexpr unsigned char guard_byte = 0xA5;

  explicit Region(std::size_t bytes) : bytes_(bytes), raw_(new unsigned char[bytes + 2 * guard + unit]) {
    // Start the usable range on a unit boundary so offsets are easy to predict.
    const auto addr = reinterpret_cast<std::uintptr_t>(raw_.get() + guard);
    start_ = raw_.get() + guard + ((unit - addr % unit) % unit);
    std::memset(raw_.get(), guard_byte, bytes + 2 * guard + unit);
  }
  unsigned char* start() const { return start_; }
  std::size_t bytes() const { return bytes_; }
  bool guards_intact() const {
    for (unsigned char* p = raw_.get(); p < start_; ++p) {
      if (*p != guard_byte) return false;
    }
    for (unsigned char* p = start_ + bytes_; p < raw_.get() + bytes_ + 2 * guard + unit; ++p) {
      if (*p != guard_byte) return false;
    }
    return true;
  }

 private:
  std::size_t bytes_;
  std::unique_ptr<unsigned char[]> raw_;
  unsigned char* start_;
};

std::size_t offset_of(const Region& r, const void* p) {
  return static_cast<std::size_t>(static_cast<const unsigned char*>(p) - r.start()) - unit;
}

struct Item {
  unsigned char* p;
  std::size_t off;  ///< offset of the item's header in the region
  std::size_t n;    ///< bytes written (the size asked for, or extended to)
  std::size_t fp;   ///< footprint in the ring, header included
  unsigned char fill;
  std::uint64_t id;
};

/// What the contract says the ring must do, from the live items alone.
class RingModel {
 public:
  explicit RingModel(std::size_t capacity) : cap_(capacity) {}

  struct Placement {
    bool ok;
    std::size_t off;
    bool wraps;
  };

  /// Where an item of footprint fp must go, or that it must fail.
  Placement place(std::size_t fp) const {
    if (fp > cap_) return {false, 0, false};
    if (live_.empty()) return {true, 0, false};  // an empty ring restarts at offset 0
    const std::size_t t = live_.front().off, h = head_;
    if (h > t) {
      if (fp <= cap_ - h) return {true, h, false};
      if (fp <= t) return {true, 0, true};
      return {false, 0, false};
    }
    if (h < t && fp <= t - h) return {true, h, false};
    return {false, 0, false};
  }

  /// Contiguous bytes after the newest item (what extend may take).
  std::size_t room_after_newest() const {
    const std::size_t t = live_.front().off, h = head_;
    if (h > t) return cap_ - h;
    return h < t ? t - h : 0;
  }

  bool fragmented(std::size_t fp) const { return cap_ - live_bytes() >= fp; }
  std::size_t live_bytes() const {
    std::size_t sum = 0;
    for (const Item& i : live_) sum += i.fp;
    return sum;
  }

  void added(const Item& item) {
    live_.push_back(item);
    head_ = (item.off + item.fp) % cap_;
    newest_ = item.id;
  }
  void grew(Item& item, std::size_t fp) {
    item.fp = fp;
    head_ = (item.off + item.fp) % cap_;
  }
  Item remove(std::size_t index) {
    Item item = live_[index];
    live_.erase(live_.begin() + static_cast<std::ptrdiff_t>(index));
    return item;
  }

  std::deque<Item>& live() { return live_; }
  std::uint64_t newest() const { return newest_; }
  std::size_t capacity() const { return cap_; }

 private:
  std::size_t cap_;
  std::deque<Item> live_;     ///< allocation order, oldest first
  std::size_t head_ = 0;      ///< end of the newest item, modulo capacity
  std::uint64_t newest_ = 0;  ///< id of the last item allocated (live or not)
};

/// Expected counters, advanced with the model.
struct Expected {
  std::uint64_t allocs = 0, frees = 0, full = 0, fragmented = 0, oversize = 0, wraps = 0, extends = 0,
                failed_extends = 0;
};

void check_contents(const Item& item) {
  for (std::size_t i = 0; i < item.n; ++i) {
    if (item.p[i] != item.fill) FAIL("item " << item.id << " corrupted at byte " << i);
  }
}

void check_no_overlap(const std::deque<Item>& live, const Item& fresh) {
  for (const Item& other : live) {
    if (other.id == fresh.id) continue;  // an item growing is checked against the others
    const bool apart = fresh.off + fresh.fp <= other.off || other.off + other.fp <= fresh.off;
    if (!apart) FAIL("item " << fresh.id << " overlaps live item " << other.id);
  }
}

/// Runs one random schedule of alloc / extend / free against the model.
void run_random_schedule(std::size_t capacity, std::uint64_t seed, int steps) {
  Region region(capacity);
  RingBuffer ring(region.start(), region.bytes());
  REQUIRE(ring.capacity() == capacity);
  RingModel model(capacity);
  Expected want;
  std::mt19937_64 rng(seed);
  std::uint64_t next_id = 1;

  auto uniform = [&](std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng); };
  auto random_size = [&]() -> std::size_t {
    const std::size_t pick = uniform(0, 99);
    if (pick < 3) return capacity + uniform(0, 64);  // oversize
    if (pick < 15) return uniform(capacity / 4, capacity / 2);
    return uniform(0, std::max<std::size_t>(capacity / 12, 1));
  };

  auto do_alloc = [&](std::size_t n) {
    const std::size_t fp = RingBuffer::footprint(n);
    const RingModel::Placement expect = model.place(fp);
    auto* p = static_cast<unsigned char*>(ring.alloc(n));
    INFO("alloc n=" << n << " fp=" << fp << " live=" << model.live().size());
    if (!expect.ok) {
      REQUIRE(p == nullptr);
      if (fp > capacity) {
        ++want.oversize;
      } else if (model.fragmented(fp)) {
        ++want.fragmented;
      } else {
        ++want.full;
      }
      return;
    }
    REQUIRE(p != nullptr);
    REQUIRE(reinterpret_cast<std::uintptr_t>(p) % unit == 0);
    REQUIRE(offset_of(region, p) == expect.off);
    REQUIRE(expect.off + fp <= capacity);  // inside the region
    REQUIRE(RingBuffer::usable_size(p) == fp - unit);
    Item item{p, expect.off, n, fp, static_cast<unsigned char>(next_id * 37 + 1), next_id};
    ++next_id;
    check_no_overlap(model.live(), item);
    std::memset(p, item.fill, n);
    model.added(item);
    ++want.allocs;
    if (expect.wraps) ++want.wraps;
  };

  auto do_extend = [&](Item& item, std::size_t n) {
    const std::size_t fp = RingBuffer::footprint(n);
    bool expect = n <= item.fp - unit;
    bool grows = false;
    if (!expect && item.id == model.newest() && item.off + item.fp != capacity) {
      expect = fp - item.fp <= model.room_after_newest();
      grows = expect;
    }
    INFO("extend item " << item.id << " from " << item.n << " to " << n);
    REQUIRE(ring.extend(item.p, n) == expect);
    if (!expect) {
      ++want.failed_extends;
      return;
    }
    ++want.extends;
    check_contents(item);  // the bytes already there stayed
    if (n > item.n) std::memset(item.p + item.n, item.fill, n - item.n);
    item.n = std::max(item.n, n);
    if (grows) {
      Item grown = item;
      grown.fp = fp;
      check_no_overlap(model.live(), grown);
      model.grew(item, fp);  // item is the newest, the deque's last
    }
  };

  auto do_free = [&](std::size_t index) {
    Item item = model.remove(index);
    check_contents(item);
    ring.free(item.p);
    ++want.frees;
  };

  auto check_stats = [&] {
    const RingBuffer::Stats s = ring.stats();
    CHECK(s.items_live == model.live().size());
    CHECK(s.bytes_live == model.live_bytes());
    CHECK(s.allocs == want.allocs);
    CHECK(s.frees == want.frees);
    CHECK(s.failed_full == want.full);
    CHECK(s.failed_fragmented == want.fragmented);
    CHECK(s.failed_oversize == want.oversize);
    CHECK(s.wraps == want.wraps);
    CHECK(s.extends == want.extends);
    CHECK(s.failed_extends == want.failed_extends);
    CHECK(s.bytes_used >= s.bytes_live);
    CHECK(s.bytes_used <= s.capacity);
  };

  for (int step = 0; step < steps; ++step) {
    INFO("step " << step);
    const std::size_t op = uniform(0, 99);
    auto& live = model.live();
    if (live.size() > 48 || (op < 40 && !live.empty())) {
      // FIFO most of the time, out of order otherwise: the case that strands freed items.
      do_free(uniform(0, 2) == 0 ? uniform(0, live.size() - 1) : 0);
    } else if (op < 52 && !live.empty()) {
      Item& target = uniform(0, 3) == 0 ? live[uniform(0, live.size() - 1)] : live.back();
      do_extend(target, target.n + uniform(0, capacity / 8));
    } else {
      do_alloc(random_size());
    }
    if (step % 101 == 0) check_stats();
    if (step % 5000 == 4999) {
      // Drain in random order: then the whole capacity must come back, from offset 0.
      while (!model.live().empty()) do_free(uniform(0, model.live().size() - 1));
      do_alloc(ring.max_alloc());
      REQUIRE(model.live().size() == 1);
      REQUIRE(model.live().front().off == 0);
      do_free(0);
      check_stats();
    }
  }
  while (!model.live().empty()) do_free(0);
  check_stats();
  // The schedule must have reached every case it exists for.
  const RingBuffer::Stats s = ring.stats();
  CHECK(s.wraps > 0);
  CHECK(s.failed_full > 0);
  CHECK(s.failed_fragmented > 0);
  CHECK(s.failed_oversize > 0);
  CHECK(s.failed_extends > 0);
  CHECK(region.guards_intact());
}

}  // namespace

// The size arithmetic (wrap, skip item, exact fit, collection) is where Swoole's ring went wrong;
// a long random schedule against an independent model covers the combinations tests miss.
TEST_CASE("RingBuffer matches a FIFO interval model over random alloc extend and free") {
  const std::uint64_t seed = mempool::test::test_seed(20240611);
  const std::size_t capacity = GENERATE(std::size_t{4096}, std::size_t{1008}, std::size_t{65536});
  INFO("seed " << seed << " capacity " << capacity);
  run_random_schedule(capacity, seed + capacity, 30000);
}

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
  CHECK(offset_of(region, c) == 176);
  void* d = ring.alloc(48);  // footprint 64 fits in [0, 96) freed by a
  REQUIRE(d != nullptr);
  CHECK(offset_of(region, d) == 0);
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
  CHECK(offset_of(region, c) == 0);
  RingBuffer::Stats s = ring.stats();
  CHECK(s.wraps == 1);
  CHECK(s.bytes_used == 96 + 64 + 80);  // b, the skip item, c
  CHECK(s.collected == 1);              // a
  ring.free(b);
  void* d = ring.alloc(16);  // collects b and the skip item, goes after c
  REQUIRE(d != nullptr);
  CHECK(offset_of(region, d) == 80);
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
  CHECK(offset_of(region, c) == 208);
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
  CHECK(offset_of(region, b) + RingBuffer::footprint(368) == 512);
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
  CHECK(offset_of(region, whole) == 0);
  ring.free(whole);
  CHECK(ring.stats().items_live == 0);
}

// Caller memory (a reactor's static buffer) may be misaligned or tiny: the ring must align the
// start, stay inside the given range, and with no room refuse everything.
TEST_CASE("RingBuffer over caller memory aligns its start and stays inside the range") {
  std::vector<unsigned char> raw(1000 + 2 * 64, 0xEE);
  unsigned char* memory = raw.data() + 64 + 3;
  RingBuffer ring(memory, 1000);
  void* p = ring.alloc(ring.max_alloc());
  REQUIRE(p != nullptr);
  CHECK(static_cast<unsigned char*>(p) >= memory);
  CHECK(static_cast<unsigned char*>(p) + ring.max_alloc() <= memory + 1000);
  CHECK(ring.capacity() % unit == 0);
  CHECK(ring.capacity() >= 1000 - 2 * unit);
  std::memset(p, 0, ring.max_alloc());
  ring.free(p);
  for (std::size_t i = 0; i < 64 + 3; ++i) CHECK(raw[i] == 0xEE);
  for (std::size_t i = 64 + 3 + 1000; i < raw.size(); ++i) CHECK(raw[i] == 0xEE);

  unsigned char tiny[8];
  RingBuffer none(tiny, sizeof tiny);
  CHECK(none.capacity() == 0);
  CHECK(none.max_alloc() == 0);
  CHECK(none.alloc(0) == nullptr);
  CHECK(none.stats().failed_oversize == 1);
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

// A double free could release an item the ring already gave to someone else; checked builds
// must stop at the second free, with a message naming it.
TEST_CASE("RingBuffer double free aborts with a message in checked builds") {
  if (!MEMPOOL_CHECKS) {
    SUCCEED("contract checks are compiled out in this build");
    return;
  }
  const ChildOutcome out = run_in_child([] {
    RingBuffer ring(1024);
    void* p = ring.alloc(10);
    void* keep = ring.alloc(10);  // keeps p from being collected
    ring.free(p);
    ring.free(p);
    ring.free(keep);
  });
  CHECK(WIFSIGNALED(out.status));
  CHECK(WTERMSIG(out.status) == SIGABRT);
  CHECK_THAT(out.stderr_text, Catch::Contains("RingBuffer::free: double free"));
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
