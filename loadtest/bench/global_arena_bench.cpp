// GlobalArena (DESIGN §3.6) against glibc: building permanent data (a config's strings and
// tables) of many mixed-size pieces, then letting it all go at once.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <memory_resource>
#include <random>
#include <vector>

#include <mempool/global_arena.hpp>

namespace {

// Pieces per build: a config with its route and MIME tables.
constexpr std::size_t pieces = 1000;

std::vector<std::size_t> piece_sizes() {
  std::mt19937_64 rng(3);
  std::vector<std::size_t> sizes(pieces);
  for (auto& n : sizes) n = 8 + rng() % 249;  // 8..256 bytes: names, values, table entries
  return sizes;
}

// One operation: one piece allocated; each iteration releases all of them.
template <class Build>
void run_builds(benchmark::State& state, Build build) {
  const std::vector<std::size_t> sizes = piece_sizes();
  for (auto _ : state) build(sizes);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * pieces));
}

// Ours: the arena takes its lock for every piece (it is thread-safe), and dies with the data.
void global_arena(benchmark::State& state) {
  run_builds(state, [](const std::vector<std::size_t>& sizes) {
    mempool::GlobalArena arena;
    for (std::size_t n : sizes) benchmark::DoNotOptimize(arena.alloc(n));
  });
}

void glibc_malloc(benchmark::State& state) {
  std::vector<void*> live(pieces);
  run_builds(state, [&](const std::vector<std::size_t>& sizes) {
    for (std::size_t i = 0; i < pieces; ++i) benchmark::DoNotOptimize(live[i] = std::malloc(sizes[i]));
    for (void* p : live) std::free(p);
  });
}

// The standard's bump allocator: no lock, so it shows what the arena's thread safety costs.
void pmr_monotonic(benchmark::State& state) {
  run_builds(state, [](const std::vector<std::size_t>& sizes) {
    std::pmr::monotonic_buffer_resource resource;
    for (std::size_t n : sizes) benchmark::DoNotOptimize(resource.allocate(n, 16));
  });
}

[[maybe_unused]] const bool registered = [] {
  benchmark::RegisterBenchmark("global_arena/mempool::GlobalArena", global_arena);
  benchmark::RegisterBenchmark("global_arena/glibc malloc+free", glibc_malloc);
  benchmark::RegisterBenchmark("global_arena/pmr monotonic (unlocked)", pmr_monotonic);
  return true;
}();

}  // namespace
