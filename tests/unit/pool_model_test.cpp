// Randomised operations on a pool and a child checked against a shadow model of what must be
// live: contents intact, no overlap, free() answering true exactly for large allocations.
#include <mempool/pool.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <random>
#include <vector>

#include "support/seed.hpp"

using mempool::BlockAllocator;
using mempool::Pool;

namespace {

struct Live {
  char* p;
  std::size_t size;
  unsigned char fill;
};

// One pool's live allocations, by address.
class Shadow {
 public:
  void add(char* p, std::size_t size, unsigned char fill) {
    std::memset(p, fill, size);
    if (size == 0) return;  // zero-size pointers may repeat; nothing to check
    auto next = live_.lower_bound(p);
    REQUIRE((next == live_.end() || p + size <= next->first));
    if (next != live_.begin()) {
      auto prev = std::prev(next);
      REQUIRE(prev->first + prev->second.size <= p);
    }
    live_[p] = Live{p, size, fill};
  }
  void remove(char* p) { live_.erase(p); }
  void clear() { live_.clear(); }
  bool empty() const { return live_.empty(); }
  void verify() const {
    for (const auto& [p, l] : live_) {
      for (std::size_t i = 0; i < l.size; i += 1 + l.size / 7) REQUIRE(static_cast<unsigned char>(p[i]) == l.fill);
      REQUIRE(static_cast<unsigned char>(p[l.size - 1]) == l.fill);
    }
  }
  const Live* pick(std::mt19937_64& rng) const {
    if (live_.empty()) return nullptr;
    auto it = live_.begin();
    std::advance(it, static_cast<long>(rng() % live_.size()));
    return &it->second;
  }

 private:
  std::map<char*, Live> live_;
};

std::size_t random_size(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0: return rng() % 8;               // tiny, including zero
    case 1: return 3000 + rng() % 6000;     // around the first blocks' sizes
    case 2: return 50000 + rng() % 40000;   // around the small limit: some large
    case 3: return 60000 + rng() % 10000;   // straddling it
    default: return 16 + rng() % 256;       // request-shaped
  }
}

}  // namespace

// DESIGN §3.2 as a whole: thousands of mixed operations never corrupt or overlap live memory.
TEST_CASE("random alloc and realloc and free and reset and child operations keep live memory intact") {
  const std::uint64_t seed = mempool::test::test_seed(20261121);
  INFO("seed " << seed << " (replay with MEMPOOL_TEST_SEED=" << seed << ")");
  std::mt19937_64 rng(seed);
  BlockAllocator blocks({.max_free = 1 << 20});
  Pool parent({.allocator = &blocks, .retain_bytes = 2 * BlockAllocator::page_size});
  auto child = std::make_unique<Pool>(parent);
  Shadow parent_live, child_live;
  unsigned char fill = 1;

  for (int op = 0; op < 20000; ++op) {
    INFO("operation " << op);
    const bool on_child = rng() % 3 == 0;
    Pool& pool = on_child ? *child : parent;
    Shadow& live = on_child ? child_live : parent_live;
    switch (rng() % 20) {
      case 0:
      case 1:
      case 2: {  // realloc
        const Live* l = live.pick(rng);
        if (!l) break;
        const std::size_t n = random_size(rng);
        const Live old = *l;
        auto* q = static_cast<char*>(pool.realloc(old.p, old.size, n));
        REQUIRE(q != nullptr);
        for (std::size_t i = 0; i < std::min(old.size, n); ++i) REQUIRE(static_cast<unsigned char>(q[i]) == old.fill);
        live.remove(old.p);
        live.add(q, n, ++fill);
        break;
      }
      case 3:
      case 4: {  // free: true exactly for large allocations, which then leave the model
        const Live* l = live.pick(rng);
        if (!l) break;
        char* p = l->p;
        if (pool.free(p)) live.remove(p);
        break;
      }
      case 5: {  // reset one pool; a parent reset kills the child too
        if (rng() % 10 != 0) break;
        pool.reset();
        live.clear();
        if (!on_child) {
          REQUIRE(child->destroyed_by_parent());
          child_live.clear();
          child = std::make_unique<Pool>(parent);
        }
        break;
      }
      case 6: {  // replace the child with a fresh one
        if (rng() % 10 != 0) break;
        child = std::make_unique<Pool>(parent);
        child_live.clear();
        break;
      }
      default: {
        const std::size_t n = random_size(rng);
        const std::size_t align = std::size_t{1} << (rng() % 8);
        auto* p = static_cast<char*>(pool.alloc(n, align));
        REQUIRE(p != nullptr);
        REQUIRE(reinterpret_cast<std::uintptr_t>(p) % align == 0);
        live.add(p, n, ++fill);
      }
    }
    if (fill == 0) fill = 1;
    if (op % 64 == 0) {
      parent_live.verify();
      child_live.verify();
    }
  }
  parent_live.verify();
  child_live.verify();
  child.reset();
  parent.reset(Pool::Retain::nothing);
  CHECK(blocks.stats().bytes_in_use == 0);
}

// Large allocations freed in random order: every free is O(1) and leaves the others intact.
TEST_CASE("large allocations freed in random order leave the rest intact") {
  const std::uint64_t seed = mempool::test::test_seed(7);
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  Pool pool;
  Shadow live;
  std::vector<char*> order;
  for (int i = 0; i < 200; ++i) {
    const std::size_t n = 70000 + rng() % 50000;
    auto* p = static_cast<char*>(pool.alloc(n));
    live.add(p, n, static_cast<unsigned char>(i + 1));
    order.push_back(p);
  }
  std::shuffle(order.begin(), order.end(), rng);
  for (std::size_t i = 0; i < order.size(); ++i) {
    REQUIRE(pool.free(order[i]));
    live.remove(order[i]);
    if (i % 50 == 0) live.verify();
  }
  CHECK(pool.stats().large_allocations == 0);
  CHECK(pool.bytes_used() == 0);
}
