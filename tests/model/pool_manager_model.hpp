/// \file
/// The PoolManager model harness: acquire, release (on the owner and, with_threads, on other
/// threads that use the pool first), trim, reclaim (also from another thread), drain, stop,
/// report_outstanding and stats, in immediate or deferred mode, with idle caps by count and by
/// bytes, interleaved at random. The model keeps the idle pools as a stack (the most recently
/// recycled on top, so it names the pool each acquire must return), the pools released on other
/// threads and not yet taken in, the deferred queue, the trim low-water mark and every counter.
/// After every step: stats() equal to the model (in deferred mode once drained; between drains,
/// what must hold whatever the background thread has done so far), every cleanup run exactly
/// once on the thread that released its pool, and idle bytes within their cap.
/// Driven by tests/unit/pool_manager_model_test.cpp (with threads, under TSan too) and
/// tests/fuzz/pool_manager_fuzz.cpp (single-threaded but for deferred mode's own thread).
#pragma once

#include <mempool/pool_manager.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "model/op_source.hpp"

namespace mempool::test {

namespace pool_manager_model_detail {

/// One cleanup registered on an acquired pool: where it must run, and where it did.
struct Cleanup {
  std::thread::id ran_on;
  int runs = 0;
};

inline void run_cleanup(void* data) {
  auto* c = static_cast<Cleanup*>(data);
  c->ran_on = std::this_thread::get_id();
  ++c->runs;
}

struct Out {
  PoolManager::Handle handle;
  Pool* pool;
  Cleanup* cleanup;
};

}  // namespace pool_manager_model_detail

inline void pool_manager_model(OpSource& in, bool with_threads) {
  using namespace pool_manager_model_detail;
  static constexpr std::size_t idle_caps[] = {0, 1, 2, 4, 256};
  static constexpr std::size_t byte_caps[] = {0, 16 * 1024, std::numeric_limits<std::size_t>::max()};
  const bool deferred = in.flag();
  PoolManager::Options options;
  options.max_idle = idle_caps[in.below(5)];
  options.max_idle_bytes = byte_caps[in.below(3)];
  options.deferred = deferred;
  options.queue_capacity = in.flag() ? 0 : 1024;  // always the releaser's work, or never: no timing in the model
  auto manager = std::make_unique<PoolManager>(options);

  std::vector<std::unique_ptr<Cleanup>> cleanups;  // outlive the pools whose cleanups point here
  std::vector<Out> out;                            // acquired, not released
  std::vector<Pool*> idle;                         // back(): the pool the next acquire gets
  std::vector<Pool*> foreign;                      // immediate mode: released elsewhere, not taken in
  std::deque<Pool*> queued;                        // deferred mode: waiting for the thread, oldest first
  PoolManager::Stats want;
  std::size_t low_water = 0;
  bool stopped = false;
  std::uint64_t acquires = 0;

  // A handle given back: counted released, no longer outstanding.
  auto give_back = [&] {
    ++want.released;
    --want.outstanding;
  };
  // A given-back pool is reset and kept idle, or destroyed beyond the count cap or once stopped.
  auto recycle = [&](Pool* p) {
    if (!stopped && idle.size() < options.max_idle) {
      idle.push_back(p);
    } else {
      ++want.destroyed;
    }
  };
  // Immediate mode: the owner takes in what other threads released, newest first (a stack).
  auto take_foreign = [&] {
    for (auto it = foreign.rbegin(); it != foreign.rend(); ++it) {
      ++want.foreign_releases;
      give_back();
      recycle(*it);
    }
    foreign.clear();
  };
  auto settle_queue = [&] {
    for (Pool* p : queued) recycle(p);
    queued.clear();
  };
  auto drain = [&] {
    ModelRun::current().op = "drain";
    manager->drain();
    if (deferred) {
      settle_queue();
    } else {
      take_foreign();
    }
  };

  auto check = [&] {
    const PoolManager::Stats s = manager->stats();
    MODEL_CHECK(s.created + s.reused == acquires);
    MODEL_CHECK(s.created == want.created && s.reused == want.reused);
    MODEL_CHECK(s.released + s.outstanding == acquires);
    MODEL_CHECK(s.idle_bytes <= options.max_idle_bytes);
    MODEL_CHECK(s.idle <= options.max_idle);
    MODEL_CHECK(s.foreign_releases == want.foreign_releases);
    MODEL_CHECK(s.deferred_fallbacks == want.deferred_fallbacks);
    MODEL_CHECK(s.released == want.released && s.outstanding == want.outstanding);
    if (queued.empty()) {
      MODEL_CHECK(s.destroyed == want.destroyed && s.idle == idle.size());
    } else {  // the thread is somewhere in the queue: between the settled and the all-done counts
      MODEL_CHECK(s.destroyed >= want.destroyed && s.destroyed <= want.destroyed + queued.size());
    }
    for (const Out& o : out) MODEL_CHECK(o.cleanup->runs == 0 && o.handle.get() == o.pool);
  };

  auto acquire = [&] {
    ModelRun::current().op = "acquire";
    if (deferred) drain();  // which pool comes back depends on how far the thread got: settle it first
    static const char* const tags[] = {"connection", "request", "upstream"};
    const char* tag = tags[in.below(3)];
    // acquire() first takes in what other threads released: the bytes are exact only without that.
    const bool exact_bytes = foreign.empty();
    const std::size_t idle_bytes_before = manager->stats().idle_bytes;
    PoolManager::Handle h = manager->acquire(tag);
    take_foreign();
    MODEL_CHECK(static_cast<bool>(h));
    ++acquires;
    ++want.outstanding;
    if (!idle.empty()) {
      MODEL_CHECK(h.get() == idle.back());  // the most recently recycled pool
      idle.pop_back();
      ++want.reused;
      if (exact_bytes) MODEL_CHECK(idle_bytes_before - manager->stats().idle_bytes == h->block_bytes());
    } else {
      ++want.created;
    }
    low_water = std::min(low_water, idle.size());
    MODEL_CHECK(std::strcmp(h->tag(), tag) == 0);
    MODEL_CHECK(h->bytes_used() == 0);  // reset on the way back
    // Use it as a connection would: bytes, maybe a large allocation, a cleanup.
    const std::size_t n = in.below(4) == 0 ? 5000 + in.below(60000) : in.below(2000);
    auto* bytes = static_cast<unsigned char*>(h->alloc(n));
    MODEL_CHECK(bytes != nullptr);
    std::memset(bytes, 0x5A, n);
    cleanups.push_back(std::make_unique<Cleanup>());
    MODEL_CHECK(h->add_cleanup(run_cleanup, cleanups.back().get()));
    Pool* p = h.get();
    out.push_back({std::move(h), p, cleanups.back().get()});
  };

  // Releases handle i on this thread or (with_threads) on a thread of its own, which uses the
  // pool first. Its cleanup must run once, there.
  auto release = [&](std::size_t i, bool elsewhere) {
    ModelRun::current().op = elsewhere ? "release on another thread" : "release";
    Out o = std::move(out[i]);
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(i));
    std::thread::id releaser = std::this_thread::get_id();
    if (elsewhere) {
      std::thread worker([&] {
        releaser = std::this_thread::get_id();
        o.handle->adopt_current_thread();
        (void)o.handle->alloc(100);
        o.handle.release();
      });
      worker.join();
    } else {
      o.handle.release();
    }
    MODEL_CHECK(!o.handle);
    MODEL_CHECK(o.cleanup->runs == 1 && o.cleanup->ran_on == releaser);
    if (!deferred && elsewhere) {
      foreign.push_back(o.pool);  // still outstanding until the owner takes it in
      return;
    }
    give_back();
    if (!deferred || stopped) {
      recycle(o.pool);
    } else if (options.queue_capacity == 0) {
      ++want.deferred_fallbacks;
      recycle(o.pool);
    } else {
      queued.push_back(o.pool);
    }
  };

  auto trim = [&] {
    ModelRun::current().op = "trim";
    if (deferred) drain();
    manager->trim();
    // Pools idle through the whole period go, half of them, the oldest first.
    const std::size_t keep = idle.size() - low_water / 2;
    want.destroyed += idle.size() - keep;
    idle.erase(idle.begin(), idle.begin() + static_cast<std::ptrdiff_t>(idle.size() - keep));
    low_water = idle.size();
  };

  auto reclaim = [&](bool elsewhere) {
    ModelRun::current().op = elsewhere ? "reclaim from another thread" : "reclaim";
    if (deferred) drain();
    if (elsewhere) {
      std::thread([&] { manager->reclaim(); }).join();  // the owner makes no call meanwhile
    } else {
      manager->reclaim();
    }
    take_foreign();
    want.destroyed += idle.size();
    idle.clear();
    low_water = 0;
  };

  auto stop = [&] {
    ModelRun::current().op = "stop";
    manager->stop();
    stopped = true;
    settle_queue();  // the thread finished the queue, destroying (stopped) what it recycled
    take_foreign();
    want.destroyed += idle.size();
    idle.clear();
    low_water = 0;
  };

  auto report = [&] {
    ModelRun::current().op = "report_outstanding";
    char* text = nullptr;
    std::size_t size = 0;
    std::FILE* f = open_memstream(&text, &size);
    MODEL_CHECK(f != nullptr);
    manager->report_outstanding(f);
    std::fclose(f);
    const std::string report(text, size);
    std::free(text);
    std::size_t lines = 0;
    for (std::size_t at = report.find("pool '"); at != std::string::npos; at = report.find("pool '", at + 1)) ++lines;
    MODEL_CHECK(lines == out.size() + foreign.size());  // acquired and not given back (or taken in)
  };

  for (ModelRun::current().step = 0; !in.done(); ++ModelRun::current().step) {
    switch (in.below(12)) {
      case 0:
      case 1:
      case 2: acquire(); break;
      case 3:
      case 4:
        if (!out.empty()) release(in.below(out.size()), false);
        break;
      case 5:
        if (!out.empty()) release(in.below(out.size()), with_threads && in.flag());
        break;
      case 6: trim(); break;
      case 7: reclaim(with_threads && in.flag()); break;
      case 8: drain(); break;
      case 9:
        if (in.below(8) == 0) stop();
        break;
      case 10: report(); break;
      case 11: {
        ModelRun::current().op = "moving a handle";
        if (out.size() < 2) break;
        // Assigning one handle to another releases the pool the target held.
        Out& target = out[0];
        Out& source = out[1];
        Out released{std::move(target.handle), target.pool, target.cleanup};
        target.handle = std::move(source.handle);
        target.pool = source.pool;
        target.cleanup = source.cleanup;
        out.erase(out.begin() + 1);
        out.push_back(std::move(released));
        release(out.size() - 1, false);
        break;
      }
    }
    check();
  }
  ModelRun::current().op = "release everything, destroy the manager";
  while (!out.empty()) release(out.size() - 1, false);
  drain();
  check();
  MODEL_CHECK(manager->stats().outstanding == 0);
  manager.reset();  // reports nothing: no pool outstanding
  for (const auto& c : cleanups) MODEL_CHECK(c->runs == 1);
}

}  // namespace mempool::test
