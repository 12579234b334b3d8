// PoolManager across threads: deferred mode and pools released away from their owner.
// Run under ThreadSanitizer by scripts/test.sh. Catch2 v2 assertions are not thread-safe, so
// worker threads record what they saw and the main thread checks it.
#include <mempool/pool_manager.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include "support/child_process.hpp"

using mempool::BlockAllocator;
using mempool::Pool;
using mempool::PoolManager;
using mempool::test::ChildOutcome;
using mempool::test::run_in_child;

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

// Issue 9: a release that raced with stop() could queue its pool after the background thread had
// emptied the queue and left: never recycled, never destroyed, counted outstanding forever (and
// leaked). Releases now see the manager stopped in the same step that tells the thread to finish.
TEST_CASE("deferred mode: releases racing with stop() strand no pool") {
  constexpr int threads = 3;
  constexpr int per_thread = 300;
  for (int round = 0; round < 20; ++round) {
    INFO("round " << round);
    PoolManager manager({.deferred = true});
    std::vector<std::vector<PoolManager::Handle>> handles(threads);
    for (auto& mine : handles) {
      for (int i = 0; i < per_thread; ++i) mine.push_back(manager.acquire("racing"));
    }
    std::atomic<int> ready{0};
    std::atomic<int> released{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> releasers;
    for (int t = 0; t < threads; ++t) {
      releasers.emplace_back([&, t] {
        ++ready;
        while (!go) std::this_thread::yield();
        for (auto& h : handles[static_cast<std::size_t>(t)]) {
          h.release();
          ++released;
        }
      });
    }
    while (ready < threads) std::this_thread::yield();
    go = true;
    while (released < threads * per_thread / 4) std::this_thread::yield();  // stop while releases pour in
    manager.stop();
    for (auto& r : releasers) r.join();
    const auto s = manager.stats();
    REQUIRE(s.outstanding == 0);
    REQUIRE(s.released == threads * per_thread);
    REQUIRE(s.destroyed == s.created);
    REQUIRE(s.idle == 0);
  }
}

// Issue 9: reclaim() skipped the pools released on other threads unless the owner called it, so
// a manager reclaimed by another thread (the main thread, after a reactor ended) kept them.
TEST_CASE("reclaim on a thread that is not the owner takes in pools released elsewhere") {
  PoolManager manager;
  auto handle = manager.acquire("elsewhere");
  REQUIRE(handle->alloc(3000) != nullptr);
  std::thread([&] { handle.release(); }).join();
  CHECK(manager.stats().outstanding == 1);  // released, not yet taken in: still counted
  std::thread([&] { manager.reclaim(); }).join();
  const auto s = manager.stats();
  CHECK(s.outstanding == 0);
  CHECK(s.released == 1);
  CHECK(s.foreign_releases == 1);
  CHECK(s.destroyed == 1);
  CHECK(s.idle == 0);
}

// Issue 9: the same for destruction: a manager destroyed away from its owner leaked the pools
// released elsewhere and reported them as outstanding.
TEST_CASE("a manager destroyed on a thread that is not the owner leaks no pool released elsewhere") {
  const ChildOutcome out = run_in_child([] {
    auto* manager = new PoolManager;
    auto handle = manager->acquire("elsewhere");
    std::thread([&] { handle.release(); }).join();
    std::thread([&] { delete manager; }).join();
    _exit(0);
  });
  CHECK(WIFEXITED(out.status));
  CHECK(out.stderr_text.find("outstanding") == std::string::npos);
}

// drain() is what makes a deferred manager's counters exact at a point of the caller's choosing.
TEST_CASE("drain waits until the background thread has recycled every released pool") {
  PoolManager manager({.deferred = true});
  std::vector<PoolManager::Handle> handles;
  for (int i = 0; i < 100; ++i) handles.push_back(manager.acquire());
  std::vector<Pool*> pools;
  for (auto& h : handles) pools.push_back(h.get());
  handles.clear();
  manager.drain();
  const auto s = manager.stats();
  CHECK(s.released == 100);
  CHECK(s.outstanding == 0);
  CHECK(s.idle == 100);
  auto again = manager.acquire();
  CHECK(again.get() == pools.back());  // the last recycled: the most recently released, queue order
}

namespace {
std::string outstanding_report(const PoolManager& manager) {
  char* text = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  manager.report_outstanding(out);
  std::fclose(out);
  std::string report(text, size);
  std::free(text);
  return report;
}
}  // namespace

// Found by the model test: a pool released on another thread was pushed on the foreign-release
// list through the same link that chained it into the outstanding list, cutting that list: the
// leak report lost every pool behind it, and taking the pool in unlinked the wrong neighbours.
TEST_CASE("a pool released on another thread leaves the outstanding list whole") {
  PoolManager manager;
  auto a = manager.acquire("pool-a");
  auto b = manager.acquire("pool-b");
  auto c = manager.acquire("pool-c");  // the list: c, b, a
  std::thread([&] { b.release(); }).join();
  std::string report = outstanding_report(manager);  // b is outstanding until taken in
  CHECK(report.find("pool-a") != std::string::npos);
  CHECK(report.find("pool-b") != std::string::npos);
  CHECK(report.find("pool-c") != std::string::npos);
  auto d = manager.acquire("pool-d");  // takes b in
  report = outstanding_report(manager);
  CHECK(report.find("pool-a") != std::string::npos);
  CHECK(report.find("pool-b") == std::string::npos);
  CHECK(report.find("pool-c") != std::string::npos);
  CHECK(report.find("pool-d") != std::string::npos);
  a.release();
  c.release();
  d.release();
  CHECK(manager.stats().outstanding == 0);
  CHECK(outstanding_report(manager).empty());
}
