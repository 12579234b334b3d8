/// \file
/// The RingBuffer model harness: alloc, free, extend, usable_size, owns, stats, double and stale
/// frees, interleaved at random over an owned ring, caller memory, or a shared ring in a
/// SharedArena, against an interval model built from the contract alone (items in allocation
/// order, space back once the oldest are free, a wrap to offset 0 when the end is too short).
/// With a shared ring and with_children, a forked child now and then frees items the parent
/// made and allocates new ones, and reports what it got; the parent checks those results against
/// the same model. After every step: every result as the model predicts (down to each item's
/// offset), stats() equal to the model's counters, no live item overlapping another, contents
/// intact, caller memory's guard bytes untouched.
/// Driven by tests/unit/ring_buffer_model_test.cpp (with children) and tests/fuzz/ring_buffer_fuzz.cpp.
#pragma once

#include <mempool/detail/check.hpp>
#include <mempool/ring_buffer.hpp>
#include <mempool/shared_arena.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "model/guarded_memory.hpp"
#include "model/op_source.hpp"

namespace mempool::test {

namespace ring_model {

constexpr std::size_t unit = RingBuffer::unit;

struct Item {
  unsigned char* p;
  std::size_t off;  ///< offset of the item's header in the item area
  std::size_t n;    ///< bytes written (the size asked for, or extended to)
  std::size_t fp;   ///< footprint in the ring, header included
  unsigned char fill;
  std::uint64_t id;
};

/// What the contract says the ring must do, from the live items alone.
class Model {
 public:
  explicit Model(std::size_t capacity) : cap_(capacity) {}

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
  const Item* find(const void* p) const {
    for (const Item& i : live_) {
      if (i.p == p) return &i;
    }
    return nullptr;
  }

  std::deque<Item>& live() { return live_; }
  std::uint64_t newest() const { return newest_; }

 private:
  std::size_t cap_;
  std::deque<Item> live_;     ///< allocation order, oldest first
  std::size_t head_ = 0;      ///< end of the newest item, modulo capacity
  std::uint64_t newest_ = 0;  ///< id of the last item allocated (live or not)
};

/// What a forked child did to a shared ring, written into the arena for the parent.
struct ChildReport {
  static constexpr int max_events = 12;
  struct Event {
    bool freed;          ///< freed the live item at `index`; else asked alloc(n) and got p
    std::size_t index;
    std::size_t n;
    unsigned char* p;
    unsigned char fill;
  };
  std::size_t consumed;  ///< input bytes the child read, for the parent to skip
  int count;
  Event events[max_events];
};

/// Counters the model expects stats() to show.
struct Expected {
  std::uint64_t allocs = 0, bad_frees = 0, full = 0, fragmented = 0, oversize = 0, wraps = 0, extends = 0,
                failed_extends = 0;
};

}  // namespace ring_model

/// Returns the ring's last stats(), so a caller can see which cases a run reached.
inline RingBuffer::Stats ring_buffer_model(OpSource& in, bool with_children = false) {
  using namespace ring_model;
  // The ring: owned, over caller memory that may start misaligned, or shared.
  static constexpr std::size_t capacities[] = {256, 1008, 4096, 16384};
  const std::size_t asked = capacities[in.below(4)];
  const std::size_t kind = in.below(3);
  const bool caller_memory = kind == 1;
  std::optional<GuardedMemory> memory;
  std::optional<SharedArena> arena;
  std::optional<RingBuffer> ring_storage;
  if (kind == 0) {
    ring_storage.emplace(asked);
  } else if (kind == 1) {
    memory.emplace(RingBuffer::region_size(asked) + in.below(40), in.below(unit));
    ring_storage.emplace(memory->start(), memory->bytes());
  } else {
    arena.emplace(RingBuffer::region_size(asked) + 4096);
    ring_storage.emplace(*arena, asked);
  }
  RingBuffer& ring = *ring_storage;
  const std::size_t cap = ring.capacity();
  MODEL_CHECK(cap % unit == 0);
  MODEL_CHECK(cap >= (caller_memory ? asked - unit : asked));  // a misaligned start may cost one unit
  MODEL_CHECK(ring.max_alloc() == (cap >= unit ? cap - unit : 0));

  Model model(cap);
  Expected want;
  unsigned char* base = nullptr;      ///< the item area, learnt from the first item (offset 0)
  std::vector<unsigned char*> stale;  ///< payloads of items already freed, for double frees
  std::uint64_t next_id = 1;

  auto check_contents = [](const Item& item) {
    for (std::size_t i = 0; i < item.n; ++i) MODEL_CHECK(item.p[i] == item.fill);
  };
  auto check_apart = [&](const Item& fresh) {
    for (const Item& other : model.live()) {
      if (other.id == fresh.id) continue;
      MODEL_CHECK(fresh.off + fresh.fp <= other.off || other.off + other.fp <= fresh.off);
    }
  };

  auto random_size = [&]() -> std::size_t {
    switch (in.below(16)) {
      case 0: return cap + in.below(64);                                      // oversize
      case 1: return in.flag() ? std::numeric_limits<std::size_t>::max() - in.below(32) : ring.max_alloc();
      case 2:
      case 3: return in.between(cap / 4, cap / 2);
      default: return in.below(std::max<std::size_t>(cap / 12, 2));
    }
  };

  // Checks alloc(n)'s result p against the model and takes it in.
  auto apply_alloc = [&](std::size_t n, unsigned char* p, unsigned char fill) {
    const bool fits = n <= cap && RingBuffer::footprint(n) <= cap;
    const std::size_t fp = fits ? RingBuffer::footprint(n) : 0;
    const Model::Placement expect = fits ? model.place(fp) : Model::Placement{false, 0, false};
    if (!expect.ok) {
      MODEL_CHECK(p == nullptr);
      if (!fits) {
        ++want.oversize;
      } else if (cap - model.live_bytes() >= fp) {
        ++want.fragmented;
      } else {
        ++want.full;
      }
      return;
    }
    MODEL_CHECK(p != nullptr);
    if (base == nullptr) base = p - expect.off - unit;
    MODEL_CHECK(reinterpret_cast<std::uintptr_t>(p) % unit == 0);
    MODEL_CHECK(p == base + expect.off + unit);
    MODEL_CHECK(expect.off + fp <= cap);
    MODEL_CHECK(RingBuffer::usable_size(p) == fp - unit);
    MODEL_CHECK(ring.owns(p));
    Item item{p, expect.off, n, fp, fill, next_id++};
    check_apart(item);
    model.added(item);
    std::erase(stale, p);  // this address is live again: freeing it now is legitimate
    ++want.allocs;
    if (expect.wraps) ++want.wraps;
  };

  auto do_alloc = [&](std::size_t n) {
    ModelRun::current().op = "alloc";
    auto* p = static_cast<unsigned char*>(ring.alloc(n));
    const auto fill = static_cast<unsigned char>(next_id * 37 + 1);
    if (p != nullptr) std::memset(p, fill, n);
    apply_alloc(n, p, fill);
  };

  auto do_extend = [&](Item& item, std::size_t n) {
    ModelRun::current().op = "extend";
    const std::size_t fp = RingBuffer::footprint(n);
    bool expect = n <= item.fp - unit;
    bool grows = false;
    if (!expect && n <= cap && item.id == model.newest() && item.off + item.fp != cap) {
      expect = fp - item.fp <= model.room_after_newest();
      grows = expect;
    }
    MODEL_CHECK(ring.extend(item.p, n) == expect);
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
      check_apart(grown);
      model.grew(item, fp);
      MODEL_CHECK(RingBuffer::usable_size(item.p) == fp - unit);
    }
  };

  auto remember_freed = [&](unsigned char* p) {
    stale.push_back(p);
    if (stale.size() > 64) stale.erase(stale.begin());
  };

  auto do_free = [&](std::size_t index) {
    ModelRun::current().op = "free";
    const Item item = model.remove(index);
    check_contents(item);
    MODEL_CHECK(ring.free(item.p));
    remember_freed(item.p);
  };

  // A pointer that is not a live item: freed already (its space maybe reused inside a newer
  // payload), the inside of a live item, or nowhere near the ring. Refused in every build;
  // checked builds abort instead (tests/unit/ring_buffer_test.cpp shows it).
  auto do_bad_free = [&] {
    if constexpr (MEMPOOL_CHECKS) return;
    ModelRun::current().op = "bad free";
    unsigned char* p = nullptr;
    unsigned char outside[32];
    switch (in.below(3)) {
      case 0:
        if (stale.empty()) return;
        p = stale[in.below(stale.size())];
        if (model.find(p) != nullptr) return;  // reused at the very same address: a legitimate free
        break;
      case 1: {
        if (model.live().empty()) return;
        const Item& item = model.live()[in.below(model.live().size())];
        p = item.p + in.between(1, std::max<std::size_t>(item.fp - unit, 1));
        if (model.find(p) != nullptr) return;
        break;
      }
      default: p = outside + in.below(16); break;
    }
    MODEL_CHECK(!ring.free(p));
    ++want.bad_frees;
    if (in.flag() && !model.live().empty() && model.find(p) == nullptr) {
      ModelRun::current().op = "extend of a bad pointer";
      MODEL_CHECK(!ring.extend(p, 1));
      ++want.failed_extends;
    }
  };

  // A forked child frees some of the parent's items and allocates new ones on the shared ring.
  auto run_child = [&] {
    ModelRun::current().op = "forked child";
    auto* report = static_cast<ChildReport*>(arena->calloc(sizeof(ChildReport)));
    MODEL_CHECK(report != nullptr);
    const std::size_t start = in.consumed();
    std::fflush(nullptr);
    const pid_t pid = fork();
    MODEL_CHECK(pid >= 0);
    if (pid == 0) {
      std::deque<Item> live = model.live();
      const int ops = static_cast<int>(in.between(1, ChildReport::max_events));
      for (int i = 0; i < ops; ++i) {
        ChildReport::Event& e = report->events[report->count++];
        e.freed = !live.empty() && in.flag();
        if (e.freed) {
          e.index = in.below(3) == 0 ? in.below(live.size()) : 0;
          const Item& item = live[e.index];
          for (std::size_t b = 0; b < item.n; ++b) {
            if (item.p[b] != item.fill) _exit(3);
          }
          if (!ring.free(item.p)) _exit(2);
          live.erase(live.begin() + static_cast<std::ptrdiff_t>(e.index));
        } else {
          e.n = random_size();
          e.p = static_cast<unsigned char*>(ring.alloc(e.n));
          e.fill = static_cast<unsigned char>(0x80 + i);
          if (e.p != nullptr) std::memset(e.p, e.fill, e.n);
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
        remember_freed(model.remove(e.index).p);
      } else {
        apply_alloc(e.n, e.p, e.fill);
      }
    }
    MODEL_CHECK(arena->free(report));
  };

  auto check_stats = [&] {
    const RingBuffer::Stats s = ring.stats();
    MODEL_CHECK(s.capacity == cap);
    MODEL_CHECK(s.items_live == model.live().size());
    MODEL_CHECK(s.bytes_live == model.live_bytes());
    MODEL_CHECK(s.allocs == want.allocs);
    MODEL_CHECK(s.frees == want.allocs - model.live().size());
    MODEL_CHECK(s.bad_frees == want.bad_frees);
    MODEL_CHECK(s.failed_full == want.full);
    MODEL_CHECK(s.failed_fragmented == want.fragmented);
    MODEL_CHECK(s.failed_oversize == want.oversize);
    MODEL_CHECK(s.wraps == want.wraps);
    MODEL_CHECK(s.extends == want.extends);
    MODEL_CHECK(s.failed_extends == want.failed_extends);
    MODEL_CHECK(s.bytes_used >= s.bytes_live && s.bytes_used <= s.capacity);
    MODEL_CHECK(!s.broken);
    for (const Item& item : model.live()) {
      if (item.n != 0) MODEL_CHECK(item.p[0] == item.fill && item.p[item.n - 1] == item.fill);
    }
    if (memory) MODEL_CHECK(memory->guards_intact());
  };

  for (ModelRun::current().step = 0; !in.done(); ++ModelRun::current().step) {
    auto& live = model.live();
    switch (in.below(12)) {
      case 0:
      case 1:
      case 2:
      case 3: do_alloc(random_size()); break;
      case 4:
      case 5:  // FIFO most of the time, out of order otherwise: the case that strands freed items
        if (!live.empty()) do_free(in.below(3) == 0 ? in.below(live.size()) : 0);
        break;
      case 6:
        if (!live.empty()) do_free(in.below(live.size()));
        break;
      case 7:
      case 8:
        if (!live.empty()) {
          Item& target = in.flag() ? live.back() : live[in.below(live.size())];
          do_extend(target, target.n + in.below(cap / 4 + 1));
        }
        break;
      case 9:
        if (arena && with_children && in.below(10) == 0) {  // rare: a fork costs milliseconds under ASan
          run_child();
        } else {
          do_bad_free();
        }
        break;
      case 10: {
        ModelRun::current().op = "owns";
        MODEL_CHECK(!ring.owns(nullptr));
        if (!live.empty()) {
          const Item& item = live[in.below(live.size())];
          MODEL_CHECK(ring.owns(item.p));
          MODEL_CHECK(!ring.owns(item.p + 1));
        }
        break;
      }
      case 11:
        // Drain in random order: then the whole capacity must come back, from offset 0.
        if (in.below(4) != 0) break;
        while (!live.empty()) do_free(in.below(live.size()));
        if (cap >= unit) {
          do_alloc(ring.max_alloc());
          MODEL_CHECK(live.size() == 1 && live.front().off == 0);
          do_free(0);
        }
        break;
    }
    check_stats();
  }
  ModelRun::current().op = "drain at the end";
  while (!model.live().empty()) do_free(0);
  check_stats();
  MODEL_CHECK(!ring.free(nullptr));
  return ring.stats();
}

}  // namespace mempool::test
