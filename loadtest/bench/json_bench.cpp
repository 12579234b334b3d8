// Issue 13 §5, where the pool pays: the allocation-heavy handler of json_workload.hpp on 256
// bodies of 2–8 KiB, cycled, built twice from the same code:
//   json/mempool-pool its containers on a request pool, reset after each request (as the server does)
//   json/heap   the same on std::pmr::new_delete_resource(): operator new, so glibc malloc, or
//               jemalloc / mimalloc with LD_PRELOAD (loadtest/run.sh handler runs all three)
// Counters per request: heap_allocs (pool: blocks the BlockAllocator took from malloc; heap:
// every allocation), and at the end of the run the process's rss_mib and peak_rss_mib (run each
// variant in its own process to compare them: loadtest/run.sh handler does).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <memory_resource>
#include <string>
#include <vector>

#include <mempool/block_allocator.hpp>
#include <mempool/pool.hpp>

#include "json_workload.hpp"

namespace {

namespace json = mempool::bench::json;

const std::vector<std::string>& bodies() {
  static const std::vector<std::string> all = json::make_bodies(256);
  return all;
}

// VmRSS and VmHWM of this process, in MiB.
std::pair<double, double> rss_mib() {
  double rss = 0, peak = 0;
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::strncmp(line, "VmRSS:", 6) == 0) rss = std::strtod(line + 6, nullptr) / 1024;
      if (std::strncmp(line, "VmHWM:", 6) == 0) peak = std::strtod(line + 6, nullptr) / 1024;
    }
    std::fclose(f);
  }
  return {rss, peak};
}

void report(benchmark::State& state, double heap_allocs) {
  const auto [rss, peak] = rss_mib();
  const auto n = static_cast<double>(state.iterations());
  state.counters["heap_allocs"] = benchmark::Counter(heap_allocs / n);
  state.counters["rss_mib"] = rss;
  state.counters["peak_rss_mib"] = peak;
  state.SetItemsProcessed(state.iterations());
}

// Counts what reaches the heap through it.
class CountingResource final : public std::pmr::memory_resource {
 public:
  std::uint64_t allocations = 0;

 private:
  void* do_allocate(std::size_t n, std::size_t align) override {
    ++allocations;
    return std::pmr::new_delete_resource()->allocate(n, align);
  }
  void do_deallocate(void* p, std::size_t n, std::size_t align) override {
    std::pmr::new_delete_resource()->deallocate(p, n, align);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
};

void json_pool(benchmark::State& state) {
  const auto& all = bodies();
  mempool::BlockAllocator blocks;
  mempool::Pool pool({.allocator = &blocks});
  // Anything that escaped the pool to the default resource would throw here.
  std::pmr::memory_resource* previous = std::pmr::set_default_resource(std::pmr::null_memory_resource());
  const std::uint64_t before = blocks.stats().os_allocs;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(json::handle(all[i], pool.resource()));
    pool.reset();
    i = (i + 1) % all.size();
  }
  std::pmr::set_default_resource(previous);
  report(state, static_cast<double>(blocks.stats().os_allocs - before));
}
BENCHMARK(json_pool)->Name("json/mempool-pool");

void json_heap(benchmark::State& state) {
  const auto& all = bodies();
  CountingResource heap;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(json::handle(all[i], &heap));
    i = (i + 1) % all.size();
  }
  report(state, static_cast<double>(heap.allocations));
}
BENCHMARK(json_heap)->Name("json/heap");

}  // namespace
