/// \file
/// The request-shaped workload of DESIGN §6, shared by every contender so they all do the same
/// work: 64 allocations of 16–256 B, one of 1–8 KiB every 16th, then everything is released.
/// Sizes are drawn once, before timing, from a fixed seed.
///
/// Two harnesses run it. run_requests() is the realistic one: it cycles 256 size sequences and
/// writes a byte into every allocation, as a handler would; that adds the same nanoseconds to
/// every contender and compresses the ratios toward 1. run_requests_tight() times the
/// allocations and the release alone over one sequence (DESIGN §6, first row): the pointers are
/// folded into one checksum that the loop must produce, which is all it takes to keep the
/// compiler from skipping work.
#pragma once

#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace mempool::bench {

inline constexpr std::size_t allocs_per_request = 64;
inline constexpr std::size_t big_every = 16;
inline constexpr std::size_t request_variants = 256;  // distinct size sequences, cycled

/// request_variants sequences of allocs_per_request sizes.
inline const std::vector<std::array<std::size_t, allocs_per_request>>& request_sizes() {
  static const auto sizes = [] {
    std::mt19937_64 rng(6);
    std::uniform_int_distribution<std::size_t> small(16, 256), big(1024, 8192);
    std::vector<std::array<std::size_t, allocs_per_request>> all(request_variants);
    for (auto& request : all) {
      for (std::size_t i = 0; i < allocs_per_request; ++i) request[i] = (i % big_every == big_every - 1) ? big(rng) : small(rng);
    }
    return all;
  }();
  return sizes;
}

/// Runs the workload: `alloc(size)` for each allocation (the first byte is written, as a real
/// handler would), then `release()` once per request. Items processed = allocations.
template <class Alloc, class Release>
void run_requests(benchmark::State& state, Alloc&& alloc, Release&& release) {
  const auto& sizes = request_sizes();
  std::size_t variant = 0;
  for (auto _ : state) {
    for (std::size_t size : sizes[variant]) {
      auto* p = static_cast<char*>(alloc(size));
      *p = 1;
      benchmark::DoNotOptimize(p);
    }
    release();
    variant = (variant + 1) % request_variants;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * allocs_per_request));
}

/// The tight harness: `alloc(size)` for each size of one sequence, then `release()`. Items
/// processed = allocations.
template <class Alloc, class Release>
void run_requests_tight(benchmark::State& state, Alloc&& alloc, Release&& release) {
  const std::array<std::size_t, allocs_per_request> sizes = request_sizes().front();
  for (auto _ : state) {
    std::uintptr_t checksum = 0;
    for (std::size_t size : sizes) checksum ^= reinterpret_cast<std::uintptr_t>(alloc(size));
    release();
    benchmark::DoNotOptimize(checksum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * allocs_per_request));
}

}  // namespace mempool::bench
