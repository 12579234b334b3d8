/// \file
/// The Pool model harness (first cut: alloc, cleanups, reset). Every live allocation's bytes stay
/// intact and each cleanup runs exactly once. Driven by tests/unit/pool_model_test.cpp and
/// tests/fuzz/pool_fuzz.cpp.
#pragma once

#include <mempool/pool.hpp>

#include <cstring>
#include <map>
#include <vector>

#include "model/op_source.hpp"

namespace mempool::test {

inline void pool_model(OpSource& in) {
  struct Live { std::size_t size; std::uint8_t fill; };
  struct Registered { int id; bool ran = false; };
  std::vector<std::unique_ptr<Registered>> all;  // before the pool: its cleanups point here
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks});
  std::map<char*, Live> live;
  std::vector<Registered*> registered;  // cleanups registered and not yet run or removed
  auto run = [](void* data) {
    auto* r = static_cast<Registered*>(data);
    MODEL_CHECK(!r->ran);
    r->ran = true;
  };
  auto verify = [&] {
    for (const auto& [p, l] : live) {
      for (std::size_t i = 0; i < l.size; ++i) MODEL_CHECK(static_cast<std::uint8_t>(p[i]) == l.fill);
    }
  };
  for (ModelRun::current().step = 0; !in.done(); ++ModelRun::current().step) {
    switch (in.below(5)) {
      case 0: {
        ModelRun::current().op = "alloc";
        const std::size_t n = in.below(300);
        auto* p = static_cast<char*>(pool.alloc(n));
        MODEL_CHECK(p != nullptr);
        const std::uint8_t fill = in.byte();
        std::memset(p, fill, n);
        if (n > 0) live[p] = {n, fill};
        break;
      }
      case 1: {
        ModelRun::current().op = "add_cleanup";
        all.push_back(std::make_unique<Registered>(Registered{static_cast<int>(all.size())}));
        MODEL_CHECK(pool.add_cleanup(run, all.back().get()));
        registered.push_back(all.back().get());
        break;
      }
      case 2:
      case 3: {
        if (registered.empty()) break;
        const bool run_now = in.flag();
        ModelRun::current().op = run_now ? "run_cleanup" : "remove_cleanup";
        const std::size_t i = in.below(registered.size());
        Registered* r = registered[i];
        registered.erase(registered.begin() + static_cast<long>(i));
        MODEL_CHECK(run_now ? pool.run_cleanup(run, r) : pool.remove_cleanup(run, r));
        MODEL_CHECK(r->ran == run_now);
        break;
      }
      case 4: {
        ModelRun::current().op = "reset";
        pool.reset();
        for (Registered* r : registered) MODEL_CHECK(r->ran);
        registered.clear();
        live.clear();
        break;
      }
    }
    verify();
  }
}

}  // namespace mempool::test
