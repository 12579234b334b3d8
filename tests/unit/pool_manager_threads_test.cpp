// PoolManager across threads: deferred mode and pools released away from their owner.
// Run under ThreadSanitizer by scripts/test.sh. Catch2 v2 assertions are not thread-safe, so
// worker threads record what they saw and the main thread checks it.
#include <mempool/pool_manager.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

using mempool::BlockAllocator;
using mempool::Pool;
using mempool::PoolManager;

namespace {

// Records which thread ran a cleanup.
struct Witness {
  std::thread::id ran_on;
  std::atomic<int>* count;
};
void witness(void* data) {
  auto* w = static_cast<Witness*>(data);
  w->ran_on = std::this_thread::get_id();
  ++*w->count;
}

}  // namespace

// FreeSWITCH crashed running cleanups late on its pool thread: ours run where the pool is released.
TEST_CASE("deferred mode runs cleanups on the releasing thread and recycles in the background") {
  PoolManager manager({.deferred = true});
  constexpr int pools = 200;
  std::atomic<int> ran{0};
  std::vector<Witness> witnesses(pools, Witness{{}, &ran});
  std::vector<std::thread::id> releasers(pools);
  std::vector<PoolManager::Handle> handles;
  for (int i = 0; i < pools; ++i) {
    handles.push_back(manager.acquire("deferred"));
    REQUIRE(handles.back()->add_cleanup(witness, &witnesses[i]));
    REQUIRE(handles.back()->alloc(static_cast<std::size_t>(100 + i)) != nullptr);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < pools; i += 4) {
        releasers[i] = std::this_thread::get_id();
        handles[i].release();
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ran == pools);
  for (int i = 0; i < pools; ++i) REQUIRE(witnesses[i].ran_on == releasers[i]);
  manager.stop();
  const auto s = manager.stats();
  CHECK(s.released == pools);
  CHECK(s.outstanding == 0);
  CHECK(s.created == pools);
  CHECK(s.destroyed == pools);  // kept idle by the thread, then destroyed by stop()
  CHECK(s.idle == 0);
}

// The bounded queue: when the thread cannot keep up, the releaser does the work itself.
TEST_CASE("deferred mode falls back to recycling on the releasing thread when the queue is full") {
  PoolManager manager({.deferred = true, .queue_capacity = 0});
  for (int i = 0; i < 10; ++i) {
    auto handle = manager.acquire();
    REQUIRE(handle->alloc(64) != nullptr);
  }
  const auto s = manager.stats();
  CHECK(s.deferred_fallbacks == 10);
  CHECK(s.released == 10);
  CHECK(s.reused == 9);
}

// Immediate mode: a pool acquired on the owner, used and released on another thread, comes back.
TEST_CASE("a pool released on another thread comes back to its owner") {
  BlockAllocator blocks;
  PoolManager manager({.allocator = &blocks});
  constexpr int rounds = 300;
  std::atomic<int> ran{0};
  std::atomic<int> failures{0};
  std::vector<Witness> witnesses(rounds, Witness{{}, &ran});
  std::vector<std::thread::id> workers(rounds);
  for (int i = 0; i < rounds; ++i) {
    auto handle = manager.acquire("handed-over");
    REQUIRE(handle->alloc(2000) != nullptr);
    std::thread worker([&, h = std::move(handle)]() mutable {
      workers[i] = std::this_thread::get_id();
      h->adopt_current_thread();
      auto* p = static_cast<char*>(h->alloc(5000 + static_cast<std::size_t>(i)));  // may need a block here
      if (p == nullptr || !h->add_cleanup(witness, &witnesses[i])) {
        ++failures;
        return;
      }
      std::memset(p, 1, 5000);
      h.release();
    });
    worker.join();
  }
  CHECK(failures == 0);
  CHECK(ran == rounds);
  for (int i = 0; i < rounds; ++i) REQUIRE(witnesses[i].ran_on == workers[i]);
  { auto last = manager.acquire(); }  // the owner takes the foreign releases back here
  const auto s = manager.stats();
  CHECK(s.foreign_releases == rounds);
  CHECK(s.released == rounds + 1);
  CHECK(s.outstanding == 0);
  CHECK(s.created == 1);  // one pool went back and forth the whole time
  manager.reclaim();
  CHECK(blocks.stats().bytes_in_use == 0);  // every block found its way home
}

// Several owners, each with its own manager and allocator, as reactors have: no shared state.
TEST_CASE("per-thread managers recycle independently") {
  std::vector<std::thread> reactors;
  std::atomic<std::uint64_t> reused{0};
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    reactors.emplace_back([&] {
      PoolManager manager;
      for (int i = 0; i < 2000; ++i) {
        auto conn = manager.acquire("conn");
        if (conn->alloc(128) == nullptr) ++failures;
      }
      reused += manager.stats().reused;
    });
  }
  for (auto& r : reactors) r.join();
  CHECK(failures == 0);
  CHECK(reused == 4 * 1999);
}
