// RingBuffer (DESIGN §3.4) against glibc on its job: read buffers of mixed sizes that are
// released in the order they were taken, a few in flight at once.
// Bar: mempool::RingBuffer faster than glibc malloc/free on ring_fifo.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include <mempool/ring_buffer.hpp>

namespace {

// Items in flight: requests of a reactor being parsed or answered while the next reads land.
constexpr std::size_t window = 8;
// Pre-drawn sizes, cycled through; a power of two so the index wraps with a mask.
constexpr std::size_t size_count = 1 << 14;
// Operations per benchmark iteration (one free of the oldest item + one alloc).
constexpr std::size_t batch = 1024;
// A per-reactor ring: large enough that the window never fills it.
constexpr std::size_t ring_capacity = 256 * 1024;

std::vector<std::size_t> read_sizes() {
  std::mt19937_64 rng(11);
  std::vector<std::size_t> sizes(size_count);
  for (auto& n : sizes) n = 64 + rng() % (2048 - 64 + 1);  // 64..2048 bytes: one read each
  return sizes;
}

// Each operation frees the oldest item and allocates the next, so `window` items stay live and
// are released in FIFO order. `alloc(n)` / `release(p)` are the contender.
template <class Alloc, class Release>
void run_fifo(benchmark::State& state, Alloc alloc, Release release) {
  const std::vector<std::size_t> sizes = read_sizes();
  void* slot[window];
  for (std::size_t i = 0; i < window; ++i) slot[i] = alloc(sizes[i]);
  std::size_t next = window;
  for (auto _ : state) {
    for (std::size_t op = 0; op < batch; ++op, ++next) {
      void*& oldest = slot[next % window];
      release(oldest);
      oldest = alloc(sizes[next & (size_count - 1)]);
      benchmark::DoNotOptimize(oldest);
    }
  }
  for (void* p : slot) release(p);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
}

void ring_buffer(benchmark::State& state) {
  mempool::RingBuffer ring(ring_capacity);
  run_fifo(state, [&](std::size_t n) { return ring.alloc(n); }, [&](void* p) { ring.free(p); });
  if (ring.stats().failed_full + ring.stats().failed_fragmented != 0) state.SkipWithError("the ring filled up");
}

void glibc_malloc(benchmark::State& state) {
  run_fifo(state, [](std::size_t n) { return std::malloc(n); }, [](void* p) { std::free(p); });
}

[[maybe_unused]] const bool registered = [] {
  benchmark::RegisterBenchmark("ring_fifo/mempool::RingBuffer", ring_buffer);
  benchmark::RegisterBenchmark("ring_fifo/glibc malloc+free", glibc_malloc);
  return true;
}();

}  // namespace
