// FixedPool: equal slices in O(1) from one region (DESIGN §3.5), with its bookkeeping inside
// that region so it can live in shared memory.
#include <mempool/detail/check.hpp>
#include <mempool/detail/sanitizer.hpp>
#include <mempool/fixed_pool.hpp>

#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/seed.hpp"

using mempool::FixedPool;

using mempool::test::ChildOutcome;
using mempool::test::run_in_child;

namespace {


/// A MAP_SHARED mapping: what a child writes there (counters included) the parent sees.
class SharedMapping {
 public:
  explicit SharedMapping(std::size_t bytes) : bytes_(bytes) {
    p_ = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p_ != MAP_FAILED);
  }
  ~SharedMapping() { munmap(p_, bytes_); }
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  void* get() const { return p_; }
  std::size_t size() const { return bytes_; }

 private:
  std::size_t bytes_;
  void* p_;
};

struct Connection {
  static inline int alive = 0;
  std::uint64_t id;
  char name[40];
  explicit Connection(std::uint64_t i) : id(i), name{} {
    std::snprintf(name, sizeof name, "conn-%llu", static_cast<unsigned long long>(i));
    ++alive;
  }
  ~Connection() { --alive; }
};

struct Throws {
  explicit Throws(int) { throw std::runtime_error("constructor failed"); }
};

}  // namespace

// The pool's whole contract in one pass: distinct aligned slices until it is empty, then nullptr.
TEST_CASE("FixedPool hands out distinct aligned slices until exhausted and then nullptr") {
  FixedPool pool(100, 8);
  CHECK(pool.slice_size() == 112);  // rounded up to the 16-byte alignment
  CHECK(pool.slice_count() == 8);
  std::set<char*> seen;
  std::vector<void*> slices;
  for (int i = 0; i < 8; ++i) {
    auto* p = static_cast<char*>(pool.alloc());
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % FixedPool::alignment == 0);
    std::memset(p, i, pool.slice_size());  // the whole slice is usable
    for (char* other : seen) CHECK((p + 112 <= other || other + 112 <= p));
    seen.insert(p);
    slices.push_back(p);
  }
  CHECK(pool.alloc() == nullptr);
  CHECK(pool.stats().failed_exhausted == 1);
  for (std::size_t i = 0; i < slices.size(); ++i) {
    CHECK(static_cast<unsigned char*>(slices[i])[111] == i);  // no slice overwrote another
    CHECK(pool.free(slices[i]));
  }
  CHECK(pool.in_use() == 0);
}

// Connection objects churn; the slice freed last is the one still in cache, so it goes out first.
TEST_CASE("FixedPool reuses the most recently freed slice first") {
  FixedPool pool(64, 4);
  void* a = pool.alloc();
  void* b = pool.alloc();
  CHECK(pool.free(a));
  CHECK(pool.free(b));
  CHECK(pool.alloc() == b);
  CHECK(pool.alloc() == a);
  CHECK(pool.free(a));
  CHECK(pool.free(b));
}

// Requests are checked against the slice: a bigger one must fail cleanly (it would overrun the
// next slice), and zero bytes is a valid request for one slice.
TEST_CASE("FixedPool rejects requests larger than a slice and serves alloc(0)") {
  FixedPool pool(64, 2);
  CHECK(pool.alloc(65) == nullptr);
  CHECK(pool.alloc(std::numeric_limits<std::size_t>::max()) == nullptr);
  CHECK(pool.stats().failed_oversize == 2);
  void* exact = pool.alloc(64);
  void* zero = pool.alloc(0);
  CHECK(exact != nullptr);
  CHECK(zero != nullptr);
  CHECK(zero != exact);
  CHECK(pool.stats().allocs == 2);
  CHECK(pool.free(exact));
  CHECK(pool.free(zero));
}

// Sizing and stats for /stats: in_use, peak and the counters must add up exactly.
TEST_CASE("FixedPool stats count allocations and frees and the peak") {
  FixedPool pool(32, 10);
  std::vector<void*> held;
  for (int i = 0; i < 7; ++i) held.push_back(pool.alloc());
  for (int i = 0; i < 4; ++i) {
    CHECK(pool.free(held.back()));
    held.pop_back();
  }
  held.push_back(pool.alloc());
  const FixedPool::Stats s = pool.stats();
  CHECK(s.slice_size == 32);
  CHECK(s.slices_total == 10);
  CHECK(s.in_use == 4);
  CHECK(s.peak == 7);
  CHECK(s.allocs == 8);
  CHECK(s.frees == 4);
  CHECK(s.failed_exhausted == 0);
  CHECK(s.double_frees == 0);
  for (void* p : held) CHECK(pool.free(p));
  CHECK(pool.stats().in_use == 0);
}

// A double free would put one slice on the free list twice and hand it to two connections. It
// must change nothing and be counted; checked builds must stop with a message. The pool lives in
// a shared mapping so the parent can read the child's counters even after the abort.
TEST_CASE("FixedPool double free is refused and counted and aborts checked builds") {
  SharedMapping shm(FixedPool::region_size(64, 4));
  FixedPool pool(64, shm.get(), shm.size());
  const ChildOutcome out = run_in_child([&] {
    void* p = pool.alloc();
    const bool first = pool.free(p);
    const bool second = pool.free(p);
    _exit(first && !second ? 0 : 1);
  });
  CHECK(pool.stats().double_frees == 1);
  CHECK(pool.stats().frees == 1);
  CHECK(pool.stats().in_use == 0);
  if (MEMPOOL_CHECKS) {
    CHECK(WIFSIGNALED(out.status));
    CHECK(WTERMSIG(out.status) == SIGABRT);
    CHECK_THAT(out.stderr_text, Catch::Contains("FixedPool::free: double free"));
  } else {
    CHECK(WIFEXITED(out.status));
    CHECK(WEXITSTATUS(out.status) == 0);
  }
  // The free list is intact: exactly 4 distinct slices, then nothing.
  std::set<void*> slices;
  for (int i = 0; i < 4; ++i) slices.insert(pool.alloc());
  CHECK(slices.size() == 4);
  CHECK(slices.count(nullptr) == 0);
  CHECK(pool.alloc() == nullptr);
}

// An interior or foreign pointer must not be taken for a slice: that would corrupt the list.
TEST_CASE("FixedPool refuses pointers that are not the start of one of its slices") {
  SharedMapping shm(FixedPool::region_size(64, 4));
  FixedPool pool(64, shm.get(), shm.size());
  const ChildOutcome out = run_in_child([&] {
    auto* p = static_cast<char*>(pool.alloc());
    int local = 0;
    const bool interior = pool.free(p + 16);
    const bool foreign = pool.free(&local);
    _exit(!interior && !foreign && pool.free(p) ? 0 : 1);
  });
  if (MEMPOOL_CHECKS) {
    CHECK(WTERMSIG(out.status) == SIGABRT);
    CHECK_THAT(out.stderr_text, Catch::Contains("not the start of a slice"));
    CHECK(pool.stats().invalid_frees == 1);  // the first bad free aborted
  } else {
    CHECK(WEXITSTATUS(out.status) == 0);
    CHECK(pool.stats().invalid_frees == 2);
    CHECK(pool.stats().frees == 1);
  }
  CHECK_FALSE(pool.free(nullptr));  // nullptr is not an error: nothing counted
  CHECK(pool.stats().invalid_frees + pool.stats().double_frees == (MEMPOOL_CHECKS ? 1u : 2u));
}

// Callers size a shared-memory table with region_size(); it must be exact, not approximate.
TEST_CASE("FixedPool region_size holds exactly the requested slices") {
  for (std::size_t slice : {1, 16, 100, 256, 4000}) {
    for (std::size_t count : {1, 2, 7, 100, 1000}) {
      const std::size_t bytes = FixedPool::region_size(slice, count);
      std::vector<std::max_align_t> memory(bytes / sizeof(std::max_align_t) + 1);
      FixedPool exact(slice, memory.data(), bytes);
      CHECK(exact.slice_count() == count);
      FixedPool short_by_one(slice, memory.data(), bytes - 1);
      CHECK(short_by_one.slice_count() == count - 1);
    }
  }
  CHECK(FixedPool::region_size(std::numeric_limits<std::size_t>::max(), 2) == std::numeric_limits<std::size_t>::max());
  CHECK(FixedPool::region_size(16, std::size_t{1} << 40) == std::numeric_limits<std::size_t>::max());
}

// In shared memory, bookkeeping that leaves the region (or stores pointers) breaks the other
// processes. Copying the region to another address and attaching there must give the same pool,
// and nothing may be written outside the given bytes.
TEST_CASE("FixedPool keeps all bookkeeping inside the given region as offsets") {
  constexpr std::size_t guard = 64;
  const std::size_t bytes = FixedPool::region_size(48, 16);
  std::vector<unsigned char> first(bytes + 2 * guard + 16, 0xCD);
  unsigned char* memory = first.data() + guard + 5;  // misaligned on purpose
  FixedPool pool(48, memory, bytes + 16);
  REQUIRE(pool.slice_count() == 16);
  std::vector<void*> held;
  for (int i = 0; i < 10; ++i) {
    auto* p = static_cast<unsigned char*>(pool.alloc());
    std::memset(p, 0x10 + i, 48);
    held.push_back(p);
  }
  CHECK(pool.free(held[3]));
  CHECK(pool.free(held[7]));
  for (std::size_t i = 0; i < guard + 5; ++i) CHECK(first[i] == 0xCD);
  for (std::size_t i = guard + 5 + bytes + 16; i < first.size(); ++i) CHECK(first[i] == 0xCD);

  // The same bytes at another address (another mapping of the same shared memory).
  std::vector<unsigned char> second(first);
  FixedPool view(FixedPool::attach, second.data() + guard + 5, bytes + 16);
  CHECK(view.stats() == pool.stats());
  const std::ptrdiff_t shift = second.data() - first.data();
  auto moved = [&](void* p) { return static_cast<unsigned char*>(p) + shift; };
  CHECK(view.is_live(moved(held[0])));
  CHECK_FALSE(view.is_live(moved(held[3])));
  CHECK(view.alloc() == moved(held[7]));  // the free list, followed at the new address
  CHECK(view.alloc() == moved(held[3]));
  CHECK(moved(held[9])[47] == 0x19);
  CHECK(view.free(moved(held[9])));
  CHECK(view.stats().in_use == 9);
  CHECK(pool.stats().in_use == 8);  // the original region did not change

  std::vector<unsigned char> unformatted(256, 0);
  CHECK_THROWS_AS(FixedPool(FixedPool::attach, unformatted.data(), unformatted.size()), std::invalid_argument);
}

// attach reads a region another process wrote (or a stray pointer): every field and every link
// is checked before the pool trusts any of it. Each corruption below would otherwise send alloc
// or free outside the memory, or around a cycle forever.
TEST_CASE("FixedPool attach refuses a region whose header or free list a FixedPool could not have written") {
  const std::size_t bytes = FixedPool::region_size(32, 8);
  std::vector<std::max_align_t> original(bytes / sizeof(std::max_align_t) + 1);
  {
    FixedPool pool(32, original.data(), bytes);
    REQUIRE(pool.slice_count() == 8);
    void* a = pool.alloc();
    (void)pool.alloc();
    REQUIRE(pool.free(a));  // a free list that is not in address order, one slice in use
  }
  CHECK_NOTHROW(FixedPool(FixedPool::attach, original.data(), bytes));
  // Field offsets of the header (fixed_pool.hpp): magic, slice_size, slices_offset (u64), then
  // slice_count, free_head, in_use, peak (u32), then the u64 counters allocs, frees, ...; the
  // links (u32, one per slice) follow the header.
  struct Corruption {
    const char* what;
    std::size_t offset;
    std::uint64_t value;
    int width;
    const char* message;
  };
  const std::size_t header = 8 * 3 + 4 * 4 + 8 * 6;
  const Corruption corruptions[] = {
      {"magic", 0, 42, 8, "no FixedPool was formatted"},
      {"slice size not a multiple of 16", 8, 40, 8, "slice size"},
      {"slice size zero", 8, 0, 8, "slice size"},
      {"slice size huge", 8, 0xfffffffffffffff0ull, 8, "slice size"},
      {"slice size larger than the memory", 8, std::uint64_t{1} << 40, 8, "run past the end"},
      {"slices offset", 16, 4096, 8, "not where the header says"},
      {"slice count beyond the memory", 24, 1000, 4, "slices are not where"},
      {"free head out of range", 28, 8, 4, "free list is broken"},
      {"in use beyond the count", 32, 9, 4, "in-use counts"},
      {"peak below in use", 36, 0, 4, "in-use counts"},
      {"allocs disagree", 40, 100, 8, "alloc and free counts"},
      {"a link out of range", header + 4 * 2, 77, 4, "points outside the pool"},
      {"a free slice marked in use", header + 4 * 5, 0xfffffffe, 4, "marked in use disagree"},
      {"a cycle in the free list", header + 4 * 7, 0, 4, "free list is broken"},
  };
  for (const Corruption& c : corruptions) {
    INFO(c.what);
    std::vector<std::max_align_t> copy(original);
    auto* raw = reinterpret_cast<unsigned char*>(copy.data());
    if (c.width == 8) {
      std::memcpy(raw + c.offset, &c.value, 8);
    } else {
      const auto v = static_cast<std::uint32_t>(c.value);
      std::memcpy(raw + c.offset, &v, 4);
    }
    try {
      FixedPool view(FixedPool::attach, copy.data(), bytes);
      FAIL("attach accepted a corrupted region");
    } catch (const std::invalid_argument& e) {
      CHECK_THAT(e.what(), Catch::Contains(c.message));
    }
  }
  // A region that is whole but larger than the memory the caller says it has.
  CHECK_THROWS_AS(FixedPool(FixedPool::attach, original.data(), bytes - 1), std::invalid_argument);
  CHECK_THROWS_AS(FixedPool(FixedPool::attach, original.data(), 16), std::invalid_argument);
}

// A slice size near SIZE_MAX made the fitting arithmetic overflow into a loop of four billion
// steps. It must answer at once: no slice fits. (The alarm turns a hang into a failure.)
TEST_CASE("FixedPool over caller memory with a huge slice size answers at once with zero slices") {
  const ChildOutcome out = run_in_child([] {
    alarm(10);
    alignas(16) unsigned char memory[4096];
    // The claimed sizes go up to a large mapping's (16 GiB): with no slice fitting, only the
    // header is written, so a 4 KiB buffer stands in for it.
    for (const std::size_t bytes : {sizeof memory, std::size_t{16} << 30}) {
      for (const std::size_t slice : {std::numeric_limits<std::size_t>::max() / 2 + 1,
                                      std::numeric_limits<std::size_t>::max() - 3, std::numeric_limits<std::size_t>::max()}) {
        FixedPool pool(slice, memory, bytes);
        if (pool.slice_count() != 0 || pool.alloc() != nullptr) _exit(1);
      }
    }
    _exit(0);
  });
  CHECK(WIFEXITED(out.status));
  CHECK(WEXITSTATUS(out.status) == 0);
  CHECK_THROWS_AS(FixedPool(std::numeric_limits<std::size_t>::max() / 2 + 1, 1), std::bad_alloc);
}

// Memory too small for even one slice gives a pool that refuses everything, not a crash.
TEST_CASE("FixedPool over memory too small for a slice has zero slices") {
  std::vector<std::max_align_t> memory(FixedPool::region_size(256, 1) / sizeof(std::max_align_t));
  FixedPool pool(256, memory.data(), FixedPool::region_size(256, 1) - 1);
  CHECK(pool.slice_count() == 0);
  CHECK(pool.alloc() == nullptr);
  CHECK(pool.stats().failed_exhausted == 1);
  CHECK_NOTHROW(FixedPool(FixedPool::attach, memory.data(), FixedPool::region_size(256, 1) - 1));
}

// Too small for even the header (checked builds used to abort here): in every build, a pool of
// zero slices whose header lives in the object, and not one byte written to the memory.
TEST_CASE("FixedPool over memory too small for its header refuses every alloc and writes nothing") {
  unsigned char memory[40];
  std::memset(memory, 0xEE, sizeof memory);
  FixedPool pool(16, memory, sizeof memory);
  CHECK(pool.slice_count() == 0);
  CHECK(pool.alloc() == nullptr);
  CHECK(pool.alloc(8) == nullptr);
  CHECK(pool.stats().failed_exhausted == 2);
  CHECK(std::all_of(memory, memory + sizeof memory, [](unsigned char c) { return c == 0xEE; }));
  CHECK_THROWS_AS(FixedPool(FixedPool::attach, memory, sizeof memory), std::invalid_argument);
  FixedPool none(16, nullptr, 0);
  CHECK(none.alloc() == nullptr);
}

// The server keeps its connection objects here: make/destroy must run constructors and
// destructors exactly once and hand back nullptr when the pool is full.
TEST_CASE("FixedPool make and destroy construct and destroy objects in slices") {
  FixedPool pool(sizeof(Connection), 2);
  Connection* a = pool.make<Connection>(1);
  Connection* b = pool.make<Connection>(2);
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(std::string(b->name) == "conn-2");
  CHECK(Connection::alive == 2);
  CHECK(pool.make<Connection>(3) == nullptr);
  CHECK(Connection::alive == 2);
  CHECK(pool.destroy(a));
  CHECK(Connection::alive == 1);
  CHECK(pool.destroy(b));
  CHECK(Connection::alive == 0);
  CHECK(pool.in_use() == 0);

  FixedPool small(8, 1);
  CHECK(small.make<Connection>(4) == nullptr);  // larger than a slice
  CHECK(small.stats().failed_oversize == 1);
}

// A constructor that throws must not leak its slice.
TEST_CASE("FixedPool make frees the slice when the constructor throws") {
  FixedPool pool(16, 1);
  CHECK_THROWS_AS(pool.make<Throws>(1), std::runtime_error);
  CHECK(pool.in_use() == 0);
  void* again = pool.alloc();
  CHECK(again != nullptr);
  CHECK(pool.stats().frees == 1);
  CHECK(pool.free(again));
}

// A double destroy must not run the destructor twice before the double free is caught.
TEST_CASE("FixedPool destroy of a dead object does not run its destructor again") {
  SharedMapping shm(FixedPool::region_size(sizeof(Connection), 1));
  FixedPool pool(sizeof(Connection), shm.get(), shm.size());
  const ChildOutcome out = run_in_child([&] {
    Connection* c = pool.make<Connection>(9);
    pool.destroy(c);
    const bool again = pool.destroy(c);
    _exit(Connection::alive == 0 && !again ? 0 : 1);
  });
  CHECK(pool.stats().double_frees == 1);
  if (!MEMPOOL_CHECKS) CHECK(WEXITSTATUS(out.status) == 0);
  if (MEMPOOL_CHECKS) CHECK(WTERMSIG(out.status) == SIGABRT);
}

// A connection object used after it was destroyed must be caught in ASan builds (heap regions;
// shared regions are not poisoned, see the header).
TEST_CASE("FixedPool poisons free slices of its own region under ASan") {
  if (!MEMPOOL_HAS_ASAN) {
    SUCCEED("not an AddressSanitizer build");
    return;
  }
  const ChildOutcome out = run_in_child([] {
    FixedPool pool(64, 4);
    auto* p = static_cast<volatile char*>(pool.alloc());
    pool.free(const_cast<char*>(p));
    p[0] = 1;
  });
  CHECK_THAT(out.stderr_text, Catch::Contains("use-after-poison"));
}

// Generic code uses the uniform verbs.
TEST_CASE("FixedPool allocate and deallocate are alloc and free") {
  FixedPool pool(64, 1);
  mempool::Allocator auto& a = pool;
  void* p = a.allocate(64);
  REQUIRE(p != nullptr);
  CHECK(a.allocate(1) == nullptr);
  a.deallocate(p, 64);
  CHECK(pool.stats().frees == 1);
  CHECK(pool.stats().failed_exhausted == 1);
}
