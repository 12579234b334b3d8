// SharedArena: one MAP_SHARED region, made before fork, with every byte of bookkeeping and the
// lock inside it (DESIGN §3.8, §5). The fork tests check from the parent, through waitpid and
// through data left in the region, that children never overlapped and that every byte came back.
#include <mempool/detail/check.hpp>
#include <mempool/detail/crash_point.hpp>
#include <mempool/fixed_pool.hpp>
#include <mempool/shared_arena.hpp>

#include <catch2/catch.hpp>

#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "support/child_process.hpp"
#include "support/seed.hpp"

using mempool::FixedPool;
using mempool::SharedArena;

using mempool::test::ChildOutcome;
using mempool::test::run_in_child;

namespace {


/// Forks `count` children running body(index) -> exit code, then waits for all of them.
template <class Body>
std::vector<int> fork_children(int count, Body body) {
  std::vector<pid_t> pids;
  for (int i = 0; i < count; ++i) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(body(i));
    pids.push_back(pid);
  }
  std::vector<int> statuses;
  for (pid_t pid : pids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    statuses.push_back(status);
  }
  return statuses;
}

bool exited_zero(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

/// One allocation a child leaves behind for the parent to check, as data inside the arena.
struct Survivor {
  unsigned char* p;
  std::size_t size;
  unsigned char fill;
};

constexpr int survivors_per_child = 16;

/// What each child reports, written into an array the parent allocated in the arena.
struct ChildReport {
  std::uint64_t allocs;
  std::uint64_t frees;
  std::uint64_t failures;
  Survivor survivors[survivors_per_child];
};

bool filled_with(const unsigned char* p, std::size_t n, unsigned char fill) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != fill) return false;
  }
  return true;
}

/// A child's work: random allocs and frees, each block filled with a byte only this child uses
/// and verified before it is freed. Exit code 0, or 2 if another process wrote into its blocks.
int churn(SharedArena& arena, ChildReport& report, int child, std::uint64_t seed) {
  std::mt19937_64 rng(seed + static_cast<std::uint64_t>(child));
  std::vector<Survivor> live;
  std::uint64_t serial = 0;
  auto fill_for = [&] { return static_cast<unsigned char>(child * 50 + static_cast<int>(serial++ % 50)); };
  auto alloc_one = [&] {
    const std::size_t n = rng() % 1500;
    auto* p = static_cast<unsigned char*>(arena.alloc(n));
    if (p == nullptr) return ++report.failures, false;
    const unsigned char fill = fill_for();
    std::memset(p, fill, n);
    live.push_back({p, n, fill});
    ++report.allocs;
    return true;
  };
  for (int step = 0; step < 20000; ++step) {
    if (live.size() < 40 && (live.empty() || rng() % 2)) {
      alloc_one();
    } else {
      const std::size_t pick = rng() % live.size();
      const Survivor s = live[pick];
      if (!filled_with(s.p, s.size, s.fill)) return 2;
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(pick));
      if (!arena.free(s.p)) return 3;
      ++report.frees;
    }
  }
  while (live.size() < survivors_per_child) {
    if (!alloc_one()) return 4;
  }
  while (live.size() > survivors_per_child) {
    if (!filled_with(live.back().p, live.back().size, live.back().fill)) return 2;
    if (!arena.free(live.back().p)) return 3;
    live.pop_back();
    ++report.frees;
  }
  std::copy(live.begin(), live.end(), report.survivors);
  return 0;
}

/// Lock callbacks for the Melon-style test: counts calls, can be told to fail.
struct CountingLocker {
  std::mutex mutex;
  int locks = 0;
  int unlocks = 0;
  bool refuse = false;
  static int lock(void* self) {
    auto* l = static_cast<CountingLocker*>(self);
    if (l->refuse) return 1;
    l->mutex.lock();
    ++l->locks;
    return 0;
  }
  static int unlock(void* self) {
    auto* l = static_cast<CountingLocker*>(self);
    ++l->unlocks;
    l->mutex.unlock();
    return 0;
  }
};

/// The blocks a crash scenario starts from.
struct Blocks {
  void* b[4];
};

/// Kills a forked child inside `op` right after its k-th write to the arena's bookkeeping, for
/// k = 1, 2, ... until op completes before reaching k. After each kill the arena must be exactly
/// as it was before op (verify() and every counter but the two that record the death), and op
/// must then work in the parent. Returns how many writes op makes.
template <class Setup, class Op>
int kill_at_every_write(Setup setup, Op op) {
  for (int k = 1;; ++k) {
    INFO("killed after write " << k);
    SharedArena arena(64 * 1024);
    Blocks blocks = setup(arena);
    const SharedArena::Stats before = arena.stats();
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      static int countdown;
      countdown = k;
      mempool::detail::crash_point_hook = [] {
        if (--countdown == 0) raise(SIGKILL);
      };
      op(arena, blocks);
      _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status)) {
      REQUIRE(WEXITSTATUS(status) == 0);
      return k - 1;
    }
    REQUIRE(WTERMSIG(status) == SIGKILL);
    REQUIRE(arena.verify());
    SharedArena::Stats after = arena.stats();
    CHECK(after.owner_deaths == before.owner_deaths + 1);
    CHECK(after.rollbacks == before.rollbacks + 1);
    after.owner_deaths = before.owner_deaths;
    after.rollbacks = before.rollbacks;
    CHECK(after == before);
    op(arena, blocks);  // the arena carries on
    CHECK(arena.verify());
  }
}

/// A robust process-shared mutex in its own mapping, behind Melon-style lock callbacks.
class CallbackMutex {
 public:
  CallbackMutex() {
    void* m = mmap(nullptr, sizeof(pthread_mutex_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(m != MAP_FAILED);
    mutex_ = static_cast<pthread_mutex_t*>(m);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(mutex_, &attr);
    pthread_mutexattr_destroy(&attr);
  }
  ~CallbackMutex() {
    pthread_mutex_destroy(mutex_);
    munmap(mutex_, sizeof(pthread_mutex_t));
  }
  static int lock(void* self) {
    auto* m = static_cast<CallbackMutex*>(self)->mutex_;
    const int rc = pthread_mutex_lock(m);
    if (rc == EOWNERDEAD) return pthread_mutex_consistent(m);
    return rc;
  }
  static int unlock(void* self) { return pthread_mutex_unlock(static_cast<CallbackMutex*>(self)->mutex_); }

 private:
  pthread_mutex_t* mutex_;
};

}  // namespace

// DESIGN §3.8: a worker killed inside a call must not leave the others a half-updated free list.
// Each scenario is killed after every single write it makes; each time the next caller must undo
// the update and find the arena whole, as if the dying call had never started.
TEST_CASE("SharedArena undoes the update of a process killed after any write inside a call") {
  auto four_blocks = [](SharedArena& arena) {
    Blocks s{};
    for (void*& p : s.b) p = arena.alloc(1000);
    return s;
  };
  SECTION("free that merges with free blocks on both sides") {
    const int writes = kill_at_every_write(
        [&](SharedArena& arena) {
          Blocks s = four_blocks(arena);
          arena.free(s.b[0]);
          arena.free(s.b[2]);
          return s;
        },
        [](SharedArena& arena, Blocks& s) { REQUIRE(arena.free(s.b[1])); });
    CHECK(writes >= 10);
  }
  SECTION("alloc that splits a free block") {
    const int writes = kill_at_every_write(four_blocks, [](SharedArena& arena, Blocks&) { REQUIRE(arena.alloc(100) != nullptr); });
    CHECK(writes >= 8);
  }
  SECTION("realloc that moves the block") {
    const int writes = kill_at_every_write(
        [&](SharedArena& arena) {
          Blocks s = four_blocks(arena);
          arena.free(s.b[0]);  // the old block's free neighbour: freeing it merges
          return s;
        },
        [](SharedArena& arena, Blocks& s) {
          std::memset(s.b[1], 0x77, 1000);
          void* q = arena.realloc(s.b[1], 5000);
          REQUIRE(q != nullptr);
          REQUIRE(q != s.b[1]);
        });
    CHECK(writes >= 20);
  }
  SECTION("realloc that grows into its free neighbour") {
    const int writes = kill_at_every_write(
        [&](SharedArena& arena) {
          Blocks s = four_blocks(arena);
          arena.free(s.b[2]);
          return s;
        },
        [](SharedArena& arena, Blocks& s) { REQUIRE(arena.realloc(s.b[1], 1500) == s.b[1]); });
    CHECK(writes >= 8);
  }
}

// The block contents a moving realloc copies over are the new block's old free-list links: they
// must come back with the rest, or the list would follow the bytes of the copy.
TEST_CASE("SharedArena undoes a moving realloc killed after the copy") {
  SharedArena arena(64 * 1024);
  void* a = arena.alloc(1000);
  void* b = arena.alloc(1000);
  std::memset(a, 0x42, 1000);
  const SharedArena::Stats before = arena.stats();
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    static int writes_after_copy;
    mempool::detail::crash_point_hook = [] {
      // The copy happens between the take (17 writes at most) and the release: die near the end.
      if (++writes_after_copy == 20) raise(SIGKILL);
    };
    (void)arena.realloc(a, 8000);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  CHECK(arena.verify());
  CHECK(arena.stats().allocations_live == before.allocations_live);
  CHECK(arena.stats().bytes_free == before.bytes_free);
  void* big = arena.alloc(8000);  // the list is whole: the block the copy went to is free again
  CHECK(big != nullptr);
  for (void* p : {a, b, big}) CHECK(arena.free(p));
  CHECK(arena.available() == arena.capacity());
  CHECK(arena.verify());
}

// Melon's lock callbacks: the arena cannot see a dead holder, but the journal left behind says
// it all the same, so the next caller through the callbacks undoes the update too.
TEST_CASE("SharedArena with lock callbacks also undoes a killed process's update") {
  CallbackMutex mutex;
  SharedArena::Options options;
  options.capacity = 64 * 1024;
  options.locker = &mutex;
  options.lock = &CallbackMutex::lock;
  options.unlock = &CallbackMutex::unlock;
  SharedArena arena(options);
  void* a = arena.alloc(100);
  const SharedArena::Stats before = arena.stats();
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    mempool::detail::crash_point_hook = [] { raise(SIGKILL); };  // at the first write
    arena.free(a);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  CHECK(arena.verify());
  const SharedArena::Stats after = arena.stats();
  CHECK(after.rollbacks == 1);
  CHECK(after.owner_deaths == 0);  // the arena's own mutex was not used
  CHECK(after.allocations_live == before.allocations_live);
  CHECK(arena.free(a));
  CHECK(arena.available() == arena.capacity());
}

// The reason the arena exists: workers forked from one master share it. Concurrent children
// must never get overlapping blocks, the parent must see their allocations (bookkeeping in the
// mapping), and once everything is freed the arena must be back to its initial free bytes.
TEST_CASE("SharedArena serves forked children concurrently without overlap and gets every byte back") {
  const std::uint64_t seed = mempool::test::test_seed(31337);
  INFO("seed " << seed);
  constexpr int children = 4;
  SharedArena arena(std::size_t{1} << 20);
  const std::size_t initial = arena.available();
  REQUIRE(initial == arena.capacity());
  auto* reports = static_cast<ChildReport*>(arena.calloc(sizeof(ChildReport) * children));
  REQUIRE(reports != nullptr);

  const std::vector<int> statuses =
      fork_children(children, [&](int i) { return churn(arena, reports[i], i, seed); });
  for (int i = 0; i < children; ++i) {
    INFO("child " << i << " status " << statuses[static_cast<std::size_t>(i)]);
    CHECK(exited_zero(statuses[static_cast<std::size_t>(i)]));
  }

  // Everything the children left behind: inside the arena, disjoint, contents intact.
  std::vector<Survivor> all;
  std::uint64_t allocs = 1, frees = 0;  // the reports array
  for (int i = 0; i < children; ++i) {
    allocs += reports[i].allocs;
    frees += reports[i].frees;
    all.insert(all.end(), reports[i].survivors, reports[i].survivors + survivors_per_child);
  }
  std::sort(all.begin(), all.end(), [](const Survivor& a, const Survivor& b) { return a.p < b.p; });
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK(arena.owns(all[i].p));
    CHECK(arena.usable_size(all[i].p) >= all[i].size);
    CHECK(filled_with(all[i].p, all[i].size, all[i].fill));
    if (i + 1 < all.size()) CHECK(all[i].p + arena.usable_size(all[i].p) <= all[i + 1].p);
  }
  SharedArena::Stats s = arena.stats();
  CHECK(s.allocs == allocs);
  CHECK(s.frees == frees);
  CHECK(s.allocations_live == 1 + all.size());
  CHECK(s.bytes_free + s.bytes_in_use == s.capacity);
  CHECK(s.owner_deaths == 0);

  // The parent frees what the children allocated: one allocator, whoever calls it.
  for (const Survivor& v : all) CHECK(arena.free(v.p));
  CHECK(arena.free(reports));
  CHECK(arena.available() == initial);
  s = arena.stats();
  CHECK(s.allocations_live == 0);
  CHECK(s.free_ranges == 1);
  CHECK(s.largest_free == s.capacity);
}

// Swoole's shared table: a FixedPool formatted inside an arena allocation before fork, used by
// every child under the arena's lock. Its counters live in the region, so the parent sees them.
TEST_CASE("SharedArena hosts a FixedPool shared by forked children") {
  constexpr int children = 4;
  constexpr int kept = 8;
  SharedArena arena(std::size_t{1} << 20);
  const std::size_t initial = arena.available();
  const std::size_t bytes = FixedPool::region_size(64, 128);
  void* memory = arena.alloc(bytes);
  REQUIRE(memory != nullptr);
  FixedPool table(64, memory, bytes);
  REQUIRE(table.slice_count() == 128);
  auto* kept_slices = static_cast<unsigned char**>(arena.calloc(sizeof(unsigned char*) * children * kept));

  const std::vector<int> statuses = fork_children(children, [&](int child) {
    const auto fill = static_cast<unsigned char>(0x40 + child);
    std::vector<unsigned char*> held;
    for (int round = 0; round < 500; ++round) {
      unsigned char* p;
      {
        std::lock_guard guard(arena);
        p = static_cast<unsigned char*>(table.alloc());
      }
      if (p == nullptr) return 5;
      std::memset(p, fill, 64);
      held.push_back(p);
      if (held.size() > kept) {
        unsigned char* old = held.front();
        held.erase(held.begin());
        if (!filled_with(old, 64, fill)) return 2;
        std::lock_guard guard(arena);
        if (!table.free(old)) return 3;
      }
    }
    std::copy(held.begin(), held.end(), kept_slices + child * kept);
    return 0;
  });
  for (int status : statuses) CHECK(exited_zero(status));

  const FixedPool::Stats s = table.stats();
  CHECK(s.allocs == children * 500);
  CHECK(s.frees == children * (500 - kept));
  CHECK(s.in_use == children * kept);
  CHECK(s.double_frees == 0);
  std::vector<unsigned char*> slices(kept_slices, kept_slices + children * kept);
  for (int child = 0; child < children; ++child) {
    for (int k = 0; k < kept; ++k) {
      CHECK(filled_with(slices[static_cast<std::size_t>(child * kept + k)], 64, static_cast<unsigned char>(0x40 + child)));
    }
  }
  std::sort(slices.begin(), slices.end());
  CHECK(std::adjacent_find(slices.begin(), slices.end()) == slices.end());
  for (unsigned char* p : slices) CHECK(table.free(p));
  CHECK(table.in_use() == 0);
  CHECK(arena.free(kept_slices));
  CHECK(arena.free(memory));
  CHECK(arena.available() == initial);
}

// A full arena must say so with nullptr, not crash or overrun; freeing makes room again.
TEST_CASE("SharedArena returns nullptr when its capacity is exhausted") {
  SharedArena arena(64 * 1024);
  std::vector<void*> blocks;
  while (void* p = arena.alloc(1000)) blocks.push_back(p);
  CHECK(blocks.size() == arena.capacity() / 1024);  // 1000 bytes take a 1024-byte block
  CHECK(arena.stats().failures == 1);
  CHECK(arena.available() < 1024);
  CHECK(arena.free(blocks.back()));
  blocks.pop_back();
  void* again = arena.alloc(1000);
  CHECK(again != nullptr);
  blocks.push_back(again);
  for (void* p : blocks) CHECK(arena.free(p));
  CHECK(arena.available() == arena.capacity());
}

// Zero-size and oversized requests are defined: alloc(0) is a distinct block, anything larger
// than the heap fails without overflowing, and the largest request that fits an empty arena works.
TEST_CASE("SharedArena defines zero-size and oversized requests") {
  SharedArena arena(16 * 1024);
  void* a = arena.alloc(0);
  void* b = arena.alloc(0);
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a != b);
  CHECK(reinterpret_cast<std::uintptr_t>(a) % SharedArena::alignment == 0);
  CHECK(arena.free(a));
  CHECK(arena.free(b));
  CHECK(arena.alloc(arena.capacity()) == nullptr);
  CHECK(arena.alloc(std::numeric_limits<std::size_t>::max()) == nullptr);
  CHECK(arena.stats().failures == 2);
  void* whole = arena.alloc(arena.capacity() - 16);  // the one block, minus its header
  REQUIRE(whole != nullptr);
  std::memset(whole, 7, arena.capacity() - 16);
  CHECK(arena.available() == 0);
  CHECK(arena.free(whole));
  CHECK(arena.available() == arena.capacity());
}

// realloc is how shared buffers grow: contents must survive growing in place, moving, and
// shrinking, and a failed realloc must leave the old block alive and intact.
TEST_CASE("SharedArena realloc keeps contents in place and when moving and when shrinking") {
  SharedArena arena(64 * 1024);
  auto* p = static_cast<unsigned char*>(arena.alloc(100));
  for (int i = 0; i < 100; ++i) p[i] = static_cast<unsigned char>(i);
  auto* grown = static_cast<unsigned char*>(arena.realloc(p, 1000));  // the rest of the heap follows
  CHECK(grown == p);
  CHECK(arena.stats().reallocs_in_place == 1);
  void* blocker = arena.alloc(10);  // now nothing free follows the block
  auto* moved = static_cast<unsigned char*>(arena.realloc(grown, 5000));
  REQUIRE(moved != nullptr);
  CHECK(moved != grown);
  CHECK(arena.stats().reallocs_moved == 1);
  for (int i = 0; i < 100; ++i) CHECK(moved[i] == i);
  const std::size_t before = arena.available();
  auto* shrunk = static_cast<unsigned char*>(arena.realloc(moved, 10));
  CHECK(shrunk == moved);
  CHECK(arena.available() > before);  // the tail went back
  for (int i = 0; i < 10; ++i) CHECK(shrunk[i] == i);
  CHECK(arena.realloc(shrunk, arena.capacity()) == nullptr);
  for (int i = 0; i < 10; ++i) CHECK(shrunk[i] == i);
  auto* fresh = static_cast<unsigned char*>(arena.realloc(nullptr, 32));  // acts as alloc
  REQUIRE(fresh != nullptr);
  auto* minimum = arena.realloc(fresh, 0);  // shrinks, does not free
  CHECK(minimum == fresh);
  CHECK(arena.stats().allocations_live == 3);
  for (void* q : {static_cast<void*>(shrunk), blocker, minimum}) CHECK(arena.free(q));
  CHECK(arena.available() == arena.capacity());
}

// Without coalescing, a long-lived arena splinters until no large request fits. Freeing
// neighbours in any order must merge them back into one free range the size of the heap.
TEST_CASE("SharedArena coalesces freed neighbours back into one free range") {
  SharedArena arena(64 * 1024);
  void* a = arena.alloc(1000);
  void* b = arena.alloc(1000);
  void* c = arena.alloc(1000);
  void* d = arena.alloc(1000);  // the rest of the heap stays one free range after d
  CHECK(arena.stats().free_ranges == 1);
  CHECK(arena.free(b));
  CHECK(arena.stats().free_ranges == 2);  // b, and the tail
  CHECK(arena.free(d));
  CHECK(arena.stats().free_ranges == 2);  // d merged with the tail
  CHECK(arena.free(a));
  CHECK(arena.stats().free_ranges == 2);  // a merged with b
  CHECK(arena.free(c));                   // c joins both sides
  const SharedArena::Stats s = arena.stats();
  CHECK(s.free_ranges == 1);
  CHECK(s.largest_free == s.capacity);
  void* whole = arena.alloc(arena.capacity() - 16);
  CHECK(whole != nullptr);
  CHECK(arena.free(whole));
}

// Reused memory carries old bytes; calloc must hand it out zeroed.
TEST_CASE("SharedArena calloc zeroes reused memory") {
  SharedArena arena(16 * 1024);
  void* dirty = arena.alloc(256);
  std::memset(dirty, 0xFF, 256);
  CHECK(arena.free(dirty));
  auto* clean = static_cast<unsigned char*>(arena.calloc(256));
  CHECK(clean == dirty);  // first fit takes the block just freed
  CHECK(filled_with(clean, 256, 0));
  CHECK(arena.free(clean));
}

// A double free in one worker could hand a block to two others. It must be refused and counted
// (in the region, so the parent sees it); checked builds abort, but only after releasing the
// lock, so the other processes carry on.
TEST_CASE("SharedArena refuses a double free and a foreign pointer and aborts checked builds") {
  SharedArena arena(16 * 1024);
  const ChildOutcome twice = run_in_child([&] {
    void* p = arena.alloc(64);
    void* neighbour = arena.alloc(64);  // keeps p from merging, so its header stays readable
    const bool first = arena.free(p);
    const bool second = arena.free(p);
    arena.free(neighbour);
    _exit(first && !second ? 0 : 1);
  });
  const ChildOutcome foreign = run_in_child([&] {
    int local = 0;
    _exit(!arena.free(&local) ? 0 : 1);
  });
  const SharedArena::Stats s = arena.stats();  // would hang if the lock had been left held
  CHECK(s.bad_frees == 2);
  CHECK(s.owner_deaths == 0);
  if (MEMPOOL_CHECKS) {
    CHECK(WTERMSIG(twice.status) == SIGABRT);
    CHECK_THAT(twice.stderr_text, Catch::Contains("SharedArena::free: double free"));
    CHECK(WTERMSIG(foreign.status) == SIGABRT);
    CHECK_THAT(foreign.stderr_text, Catch::Contains("not a live block of this arena"));
  } else {
    CHECK(exited_zero(twice.status));
    CHECK(exited_zero(foreign.status));
  }
}

// A worker that crashes while holding the lock must not hang the others (robust mutex). It held
// lock() for an update of its own, not inside an arena call: nothing of the arena's to undo.
TEST_CASE("SharedArena recovers its lock when a process dies holding it") {
  SharedArena arena(16 * 1024);
  const std::vector<int> statuses = fork_children(1, [&](int) {
    arena.lock();
    return 0;  // exits without unlocking
  });
  CHECK(exited_zero(statuses[0]));
  void* p = arena.alloc(100);
  CHECK(p != nullptr);
  CHECK(arena.stats().owner_deaths == 1);
  CHECK(arena.stats().rollbacks == 0);
  CHECK(arena.verify());
  CHECK(arena.free(p));
  CHECK(arena.available() == arena.capacity());
}

// robust=false trades crash recovery for speed; the plain process-shared mutex must still
// serialise forked children.
TEST_CASE("SharedArena with a non-robust mutex still serves forked children") {
  SharedArena::Options options;
  options.capacity = 256 * 1024;
  options.robust = false;
  SharedArena arena(options);
  auto* reports = static_cast<ChildReport*>(arena.calloc(sizeof(ChildReport) * 2));
  const std::vector<int> statuses = fork_children(2, [&](int i) { return churn(arena, reports[i], i, 5); });
  for (int status : statuses) CHECK(exited_zero(status));
  CHECK(arena.stats().allocs == 1 + reports[0].allocs + reports[1].allocs);
  for (int i = 0; i < 2; ++i) {
    for (const Survivor& v : reports[i].survivors) {
      CHECK(filled_with(v.p, v.size, v.fill));
      CHECK(arena.free(v.p));
    }
  }
  CHECK(arena.free(reports));
  CHECK(arena.available() == arena.capacity());
}

// Melon's interface: caller lock callbacks replace the built-in mutex around every call, and a
// failing lock fails the call rather than running unlocked.
TEST_CASE("SharedArena uses caller lock callbacks around every call") {
  CountingLocker locker;
  SharedArena::Options options;
  options.capacity = 16 * 1024;
  options.locker = &locker;
  options.lock = &CountingLocker::lock;
  options.unlock = &CountingLocker::unlock;
  SharedArena arena(options);
  void* p = arena.alloc(10);
  p = arena.realloc(p, 20);
  CHECK(arena.free(p));
  CHECK(arena.available() == arena.capacity());
  CHECK(locker.locks == 4);
  CHECK(locker.unlocks == 4);
  locker.refuse = true;
  CHECK(arena.alloc(10) == nullptr);
  CHECK(arena.stats().allocs == 0);  // no lock: an empty snapshot
  CHECK_THROWS_AS(arena.lock(), std::system_error);
  CHECK(locker.unlocks == 4);

  SharedArena::Options half;
  half.lock = &CountingLocker::lock;
  CHECK_THROWS_AS(SharedArena(half), std::invalid_argument);
}

// mmap reports failure with MAP_FAILED, not NULL; the arena must turn that into an exception.
TEST_CASE("SharedArena construction throws when the mapping cannot be made") {
  CHECK_THROWS_AS(SharedArena(std::numeric_limits<std::size_t>::max() / 2), std::system_error);
  CHECK_THROWS_AS(SharedArena(std::numeric_limits<std::size_t>::max()), std::system_error);
}

// Generic code uses the uniform verbs.
TEST_CASE("SharedArena allocate and deallocate are alloc and free") {
  SharedArena arena(16 * 1024);
  mempool::Allocator auto& a = arena;
  void* p = a.allocate(100);
  REQUIRE(p != nullptr);
  a.deallocate(p, 100);
  CHECK(arena.stats().frees == 1);
  CHECK(arena.available() == arena.capacity());
}
