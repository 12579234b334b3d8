// FixedPool (DESIGN §3.5) against glibc on its job: connection objects of one size that come
// and go in no fixed order (short requests close first, long-polls last).
// Bar: mempool::FixedPool faster than glibc malloc/free on fixed_slices.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include <mempool/fixed_pool.hpp>

namespace {

constexpr std::size_t slice_size = 256;  // a connection object
constexpr std::size_t live = 64;         // connections open at once
// Pre-drawn victims, cycled through; a power of two so the index wraps with a mask.
constexpr std::size_t victim_count = 1 << 14;
constexpr std::size_t batch = 1024;  // operations per benchmark iteration

// Which open connection closes next: half the time the newest (LIFO), else any of them.
std::vector<std::uint32_t> victims() {
  std::mt19937_64 rng(5);
  std::vector<std::uint32_t> v(victim_count);
  std::uint32_t newest = 0;
  for (auto& i : v) {
    i = rng() % 2 ? newest : static_cast<std::uint32_t>(rng() % live);
    newest = i;  // the slot just refilled holds the newest connection
  }
  return v;
}

// Each operation closes one connection and opens another in its slot.
template <class Alloc, class Release>
void run_churn(benchmark::State& state, Alloc alloc, Release release) {
  const std::vector<std::uint32_t> order = victims();
  void* slot[live];
  for (auto& p : slot) p = alloc();
  std::size_t next = 0;
  for (auto _ : state) {
    for (std::size_t op = 0; op < batch; ++op, ++next) {
      void*& victim = slot[order[next & (victim_count - 1)]];
      release(victim);
      victim = alloc();
      benchmark::DoNotOptimize(victim);
    }
  }
  for (void* p : slot) release(p);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
}

void fixed_pool(benchmark::State& state) {
  mempool::FixedPool pool(slice_size, 1024);  // a reactor's connection limit
  run_churn(state, [&] { return pool.alloc(); }, [&](void* p) { pool.free(p); });
}

void glibc_malloc(benchmark::State& state) {
  run_churn(state, [] { return std::malloc(slice_size); }, [](void* p) { std::free(p); });
}

[[maybe_unused]] const bool registered = [] {
  benchmark::RegisterBenchmark("fixed_slices/mempool::FixedPool", fixed_pool);
  benchmark::RegisterBenchmark("fixed_slices/glibc malloc+free", glibc_malloc);
  return true;
}();

}  // namespace
