// SharedArena (DESIGN §3.8) against glibc: mixed-size allocations freed in random order. The
// arena takes a process-shared robust mutex on every call, journals every bookkeeping write (so
// that a worker killed mid-call can be undone) and serves first fit from a free list; glibc works
// from per-thread caches. No bar: this shows the price of sharing.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include <mempool/shared_arena.hpp>

namespace {

constexpr std::size_t live = 32;  // blocks alive at once (session entries, counters, buffers)
// Pre-drawn sizes and victims, cycled through; a power of two so the index wraps with a mask.
constexpr std::size_t draw_count = 1 << 14;
constexpr std::size_t batch = 1024;  // operations per benchmark iteration

struct Draw {
  std::uint32_t size;
  std::uint32_t victim;
};

std::vector<Draw> draws() {
  std::mt19937_64 rng(17);
  std::vector<Draw> d(draw_count);
  for (auto& x : d) x = {static_cast<std::uint32_t>(16 + rng() % (512 - 16 + 1)), static_cast<std::uint32_t>(rng() % live)};
  return d;
}

// Each operation frees a random live block and allocates one of the next size in its slot.
template <class Alloc, class Release>
void run_mixed(benchmark::State& state, Alloc alloc, Release release) {
  const std::vector<Draw> d = draws();
  void* slot[live];
  for (std::size_t i = 0; i < live; ++i) slot[i] = alloc(d[i].size);
  std::size_t next = 0;
  for (auto _ : state) {
    for (std::size_t op = 0; op < batch; ++op, ++next) {
      const Draw& x = d[next & (draw_count - 1)];
      release(slot[x.victim]);
      slot[x.victim] = alloc(x.size);
      benchmark::DoNotOptimize(slot[x.victim]);
    }
  }
  for (void* p : slot) release(p);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
}

void shared_arena(benchmark::State& state) {
  mempool::SharedArena arena(std::size_t{4} << 20);
  run_mixed(state, [&](std::size_t n) { return arena.alloc(n); }, [&](void* p) { arena.free(p); });
}

// The same without PTHREAD_MUTEX_ROBUST: what crash safety costs per call.
void shared_arena_not_robust(benchmark::State& state) {
  mempool::SharedArena::Options options;
  options.capacity = std::size_t{4} << 20;
  options.robust = false;
  mempool::SharedArena arena(options);
  run_mixed(state, [&](std::size_t n) { return arena.alloc(n); }, [&](void* p) { arena.free(p); });
}

void glibc_malloc(benchmark::State& state) {
  run_mixed(state, [](std::size_t n) { return std::malloc(n); }, [](void* p) { std::free(p); });
}

[[maybe_unused]] const bool registered = [] {
  benchmark::RegisterBenchmark("shared_alloc/mempool::SharedArena", shared_arena);
  benchmark::RegisterBenchmark("shared_alloc/mempool::SharedArena (robust=false)", shared_arena_not_robust);
  benchmark::RegisterBenchmark("shared_alloc/glibc malloc+free", glibc_malloc);
  return true;
}();

}  // namespace
