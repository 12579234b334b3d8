// Randomised tests of Pool against models: the whole-API harness (tests/model/pool_model.hpp)
// over seeded bytes and the committed fuzz corpus, and large allocations freed in random order.
#include <mempool/pool.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <random>
#include <vector>

#include "model/pool_model.hpp"
#include "model/run_model.hpp"
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

}  // namespace

// DESIGN §3.2 as a whole: every public operation of a tree of pools, interleaved at random and
// checked against the model after every step (tests/model/pool_model.hpp). A failure prints the
// seed and the step; MEMPOOL_TEST_SEED=<seed> replays it.
TEST_CASE("pool model: random interleavings of the whole API match the model") {
  mempool::test::run_model_seeded(mempool::test::pool_model, 20261121, 40, 6000);
}

// Whatever the fuzzer once found stays a regression test (tests/fuzz/corpus/pool/).
TEST_CASE("pool model: the committed fuzz corpus replays clean") {
  CHECK(mempool::test::run_model_corpus(mempool::test::pool_model, "pool") > 0);
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
