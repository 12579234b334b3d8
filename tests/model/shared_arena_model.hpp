/// \file
/// The SharedArena model harness: alloc, calloc, realloc (grow, shrink, move, nullptr, 0), free,
/// double and foreign frees, available, usable_size, owns, lock/unlock, stats and verify,
/// interleaved at random; optionally (with_children) a forked child runs part of the sequence on
/// the same mapping — allocating, and freeing blocks the parent made — and reports what it did
/// in the arena for the parent to take into its model.
/// The model is the set of live blocks. After every step: no two blocks overlap, contents are
/// intact, available() and stats() equal what the live blocks and the counted calls imply, an
/// alloc fails exactly when no free block is large enough (first fit is a complete search), and
/// verify() finds every invariant of the free list. Driven by
/// tests/unit/shared_arena_model_test.cpp (with children) and tests/fuzz/shared_arena_fuzz.cpp.
#pragma once

#include <mempool/detail/check.hpp>
#include <mempool/shared_arena.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>

#include "model/op_source.hpp"

namespace mempool::test {

namespace shared_arena_model_detail {

constexpr std::size_t header = 16;  // bytes before every payload
constexpr std::size_t min_payload = 16;

struct Block {
  std::size_t n;  ///< bytes asked for (and filled)
  unsigned char fill;
};

/// What a forked child did, written into the arena for the parent.
struct ChildReport {
  static constexpr int max_events = 16;
  struct Event {
    unsigned char* p;
    std::size_t n;
    unsigned char fill;
    bool freed;  ///< the child freed p (a block of the parent's); else it allocated p
  };
  std::size_t consumed;  ///< input bytes the child read, for the parent to skip
  int count;
  std::uint64_t failures;
  Event events[max_events];
};

/// Block bytes the arena takes for n bytes (before it may keep a too-small remainder).
inline std::size_t block_need(std::size_t n) {
  return header + (n < min_payload ? min_payload : (n + 15) / 16 * 16);
}

}  // namespace shared_arena_model_detail

inline void shared_arena_model(OpSource& in, bool with_children) {
  using namespace shared_arena_model_detail;
  SharedArena arena(std::size_t{16} << (10 + in.below(3)));  // 16, 32 or 64 KiB
  const std::size_t cap = arena.capacity();
  std::map<unsigned char*, Block> live;
  std::uint64_t allocs = 0, frees = 0, failures = 0, bad_frees = 0, in_place = 0, moved = 0;
  unsigned char next_fill = 1;
  auto fill = [&] { return next_fill = static_cast<unsigned char>(next_fill % 250 + 1); };

  auto block_bytes = [&](unsigned char* p) { return arena.usable_size(p) + header; };
  auto insert = [&](unsigned char* p, std::size_t n, unsigned char f, bool write) {
    MODEL_CHECK(p != nullptr && arena.owns(p));
    MODEL_CHECK(reinterpret_cast<std::uintptr_t>(p) % SharedArena::alignment == 0);
    const std::size_t usable = arena.usable_size(p);
    MODEL_CHECK(usable + header >= block_need(n) && usable + header < block_need(n) + 2 * min_payload);
    auto next = live.lower_bound(p);
    MODEL_CHECK(next == live.end() || p + usable + header <= next->first);
    if (next != live.begin()) {
      const auto prev = std::prev(next);
      MODEL_CHECK(prev->first + arena.usable_size(prev->first) + header <= p);
    }
    if (write) std::memset(p, f, n);
    live[p] = {n, f};
  };
  auto intact = [](unsigned char* p, const Block& b) {
    for (std::size_t i = 0; i < b.n; ++i) {
      if (p[i] != b.fill) return false;
    }
    return true;
  };
  auto pick = [&]() -> unsigned char* {
    if (live.empty()) return nullptr;
    auto it = live.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(in.below(live.size())));
    return it->first;
  };
  auto size = [&]() -> std::size_t {
    switch (in.below(8)) {
      case 0: return in.below(17);
      case 1: return in.between(cap / 8, cap);  // large: fails often
      case 2: return in.flag() ? std::numeric_limits<std::size_t>::max() - in.below(16) : cap - header;
      default: return in.below(600);
    }
  };
  // A refused request is right only if no free block could hold it.
  auto check_refusal = [&](std::size_t n) {
    MODEL_CHECK(n > cap || arena.stats().largest_free < block_need(n));
  };

  auto check = [&] {
    std::size_t in_use = 0;
    for (const auto& [p, b] : live) {
      in_use += block_bytes(p);
      if (b.n != 0) MODEL_CHECK(p[0] == b.fill && p[b.n - 1] == b.fill);
    }
    const SharedArena::Stats s = arena.stats();
    MODEL_CHECK(s.capacity == cap);
    MODEL_CHECK(s.bytes_in_use == in_use);
    MODEL_CHECK(s.bytes_free == cap - in_use);
    MODEL_CHECK(arena.available() == cap - in_use);
    MODEL_CHECK(s.allocations_live == live.size());
    MODEL_CHECK(s.allocs == allocs);
    MODEL_CHECK(s.frees == frees);
    MODEL_CHECK(s.failures == failures);
    MODEL_CHECK(s.bad_frees == bad_frees);
    MODEL_CHECK(s.reallocs_in_place == in_place);
    MODEL_CHECK(s.reallocs_moved == moved);
    MODEL_CHECK(s.owner_deaths == 0 && s.rollbacks == 0);
    MODEL_CHECK(s.largest_free <= s.bytes_free);
    MODEL_CHECK((s.free_ranges == 0) == (s.bytes_free == 0));
    MODEL_CHECK(arena.verify());
  };

  // A child runs a few operations on the shared mapping, then the parent takes in its report.
  auto run_child = [&] {
    ModelRun::current().op = "forked child";
    auto* report = static_cast<ChildReport*>(arena.calloc(sizeof(ChildReport)));
    if (report == nullptr) {
      ++failures;
      return;
    }
    const std::size_t start = in.consumed();
    std::fflush(nullptr);
    const pid_t pid = fork();
    MODEL_CHECK(pid >= 0);
    if (pid == 0) {
      const int ops = static_cast<int>(in.between(1, ChildReport::max_events));
      for (int i = 0; i < ops; ++i) {
        unsigned char* victim = in.flag() ? pick() : nullptr;
        if (victim != nullptr) {
          if (!intact(victim, live[victim]) || !arena.free(victim)) _exit(2);
          live.erase(victim);
          report->events[report->count++] = {victim, 0, 0, true};
        } else {
          const std::size_t n = in.below(400);
          auto* p = static_cast<unsigned char*>(arena.alloc(n));
          if (p == nullptr) {
            ++report->failures;
            continue;
          }
          const unsigned char f = fill();
          std::memset(p, f, n);
          report->events[report->count++] = {p, n, f, false};
        }
      }
      report->consumed = in.consumed() - start;
      _exit(0);
    }
    int status = 0;
    MODEL_CHECK(waitpid(pid, &status, 0) == pid);
    MODEL_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (std::size_t i = 0; i < report->consumed; ++i) (void)in.byte();  // the bytes the child read
    for (int i = 0; i < report->count; ++i) {
      const ChildReport::Event& e = report->events[i];
      if (e.freed) {
        live.erase(e.p);
        ++frees;
      } else {
        insert(e.p, e.n, e.fill, false);
        MODEL_CHECK(intact(e.p, live[e.p]));
        ++allocs;
      }
    }
    failures += report->failures;
    next_fill = static_cast<unsigned char>(next_fill + report->count);
    MODEL_CHECK(arena.free(report));
    ++allocs;  // the report itself, allocated and freed here
    ++frees;
  };

  for (ModelRun::current().step = 0; !in.done(); ++ModelRun::current().step) {
    switch (in.below(12)) {
      case 0:
      case 1:
      case 2: {
        ModelRun::current().op = "alloc";
        const std::size_t n = size();
        auto* p = static_cast<unsigned char*>(arena.alloc(n));
        if (p == nullptr) {
          ++failures;
          check_refusal(n);
          break;
        }
        ++allocs;
        insert(p, n, fill(), true);
        break;
      }
      case 3: {
        ModelRun::current().op = "calloc";
        const std::size_t n = in.below(300);
        auto* p = static_cast<unsigned char*>(arena.calloc(n));
        if (p == nullptr) {
          ++failures;
          check_refusal(n);
          break;
        }
        ++allocs;
        for (std::size_t i = 0; i < n; ++i) MODEL_CHECK(p[i] == 0);
        insert(p, n, fill(), true);
        break;
      }
      case 4:
      case 5: {
        ModelRun::current().op = "realloc";
        unsigned char* p = in.below(8) == 0 ? nullptr : pick();
        const std::size_t n = in.below(4) == 0 ? in.below(3000) : in.below(300);
        auto* q = static_cast<unsigned char*>(arena.realloc(p, n));
        if (p == nullptr) {  // acts as alloc
          if (q == nullptr) {
            ++failures;
            check_refusal(n);
          } else {
            ++allocs;
            insert(q, n, fill(), true);
          }
          break;
        }
        const Block old = live[p];
        if (q == nullptr) {
          ++failures;
          MODEL_CHECK(intact(p, old));  // untouched on failure
          break;
        }
        live.erase(p);
        for (std::size_t i = 0; i < std::min(old.n, n); ++i) MODEL_CHECK(q[i] == old.fill);
        ++(q == p ? in_place : moved);
        insert(q, n, fill(), true);
        break;
      }
      case 6:
      case 7: {
        ModelRun::current().op = "free";
        unsigned char* p = pick();
        if (p == nullptr) break;
        MODEL_CHECK(intact(p, live[p]));
        MODEL_CHECK(arena.free(p));
        live.erase(p);
        ++frees;
        break;
      }
      case 8: {
        // Freed already, inside a block, or nowhere near: refused and counted in every build;
        // checked builds abort instead (tests/unit/shared_arena_test.cpp shows it).
        if constexpr (MEMPOOL_CHECKS) break;
        ModelRun::current().op = "bad free";
        unsigned char outside[64];
        unsigned char* p = pick();
        unsigned char* bad = p == nullptr || in.flag() ? outside + in.below(48) : p + in.between(1, 64);
        if (live.count(bad) != 0) break;
        MODEL_CHECK(!arena.free(bad));
        ++bad_frees;
        break;
      }
      case 9: {
        ModelRun::current().op = "lock";
        std::lock_guard guard(arena);  // a compound update of the caller's own data
        if (unsigned char* p = pick()) std::memset(p, live[p].fill, live[p].n);
        break;
      }
      case 10: {
        ModelRun::current().op = "owns";
        MODEL_CHECK(!arena.owns(nullptr));
        unsigned char* p = pick();
        if (p != nullptr) MODEL_CHECK(arena.owns(p) && arena.usable_size(p) >= live[p].n);
        break;
      }
      case 11:
        if (with_children && in.below(8) == 0) run_child();  // rare: a fork costs milliseconds under ASan
        break;
    }
    check();
  }
  ModelRun::current().op = "free everything";
  for (const auto& [p, b] : live) MODEL_CHECK(intact(p, b) && arena.free(p));
  MODEL_CHECK(arena.available() == cap);
  MODEL_CHECK(arena.stats().free_ranges == 1 && arena.stats().largest_free == cap);
  MODEL_CHECK(arena.verify());
}

}  // namespace mempool::test
