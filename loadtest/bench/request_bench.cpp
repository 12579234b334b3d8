// DESIGN §6, first two rows: the request-shaped workload through our Pool and its contenders,
// under both harnesses of request_workload.hpp: "request/..." (realistic: 256 size sequences, a
// byte written per allocation) and "request-tight/..." (the allocations and the release alone).
#include <apr_general.h>
#include <apr_pools.h>
#include <dlfcn.h>

#include <cstdlib>
#include <memory>
#include <memory_resource>
#include <vector>

#include <mempool/pool.hpp>
#include <mempool/pool_manager.hpp>

#include "request_workload.hpp"

namespace {

using mempool::bench::allocs_per_request;

enum class Harness { realistic, tight };

template <Harness H, class Alloc, class Release>
void run(benchmark::State& state, Alloc&& alloc, Release&& release) {
  if constexpr (H == Harness::tight) {
    mempool::bench::run_requests_tight(state, alloc, release);
  } else {
    mempool::bench::run_requests(state, alloc, release);
  }
}

// Ours, as a reactor uses it: a request pool on the reactor's own (unlocked) BlockAllocator,
// reset after each request.
template <Harness H>
void pool_reset(benchmark::State& state) {
  mempool::BlockAllocator blocks;
  mempool::Pool pool({.allocator = &blocks});
  run<H>(state, [&](std::size_t n) { return pool.alloc(n); }, [&] { pool.reset(); });
}

// DESIGN §6 second row: the same work, but each request acquires its pool from a reactor's
// PoolManager and releases it at the end (what a connection's life costs on top of the pool).
template <Harness H>
void manager_acquire_release(benchmark::State& state) {
  mempool::PoolManager manager;
  mempool::PoolManager::Handle handle = manager.acquire("request");
  mempool::Pool* pool = handle.get();  // a handler takes the pool from its handle once
  run<H>(
      state, [&](std::size_t n) { return pool->alloc(n); },
      [&] {
        handle.release();
        handle = manager.acquire("request");
        pool = handle.get();
      });
}

// The floor: a pointer bump over one big buffer, with the bounds check any real allocator needs
// (out of room: nullptr), rewound after each request.
template <Harness H>
void bump_pointer(benchmark::State& state) {
  constexpr std::size_t arena_size = 1 << 20;
  auto arena = std::make_unique<std::byte[]>(arena_size);
  std::byte* const begin = arena.get();
  std::byte* const end = begin + arena_size;
  std::byte* cursor = begin;
  run<H>(
      state,
      [&](std::size_t n) -> void* {
        std::byte* p = begin + ((cursor - begin + 15) & ~std::ptrdiff_t{15});
        if (n > static_cast<std::size_t>(end - p)) return nullptr;
        cursor = p + n;
        return p;
      },
      [&] { cursor = begin; });
}

template <Harness H>
void pmr_monotonic(benchmark::State& state) {
  std::pmr::monotonic_buffer_resource resource;
  run<H>(state, [&](std::size_t n) { return resource.allocate(n, 16); }, [&] { resource.release(); });
}

// Pool resources need every allocation handed back; the release step does that.
template <class Free>
class Remembered {
 public:
  explicit Remembered(Free free) : free_(free) { live_.reserve(allocs_per_request); }
  void* keep(void* p, std::size_t n) {
    live_.push_back({p, n});
    return p;
  }
  void release() {
    for (auto [p, n] : live_) free_(p, n);
    live_.clear();
  }

 private:
  Free free_;
  std::vector<std::pair<void*, std::size_t>> live_;
};

template <Harness H>
void pmr_unsynchronized_pool(benchmark::State& state) {
  std::pmr::unsynchronized_pool_resource resource;
  Remembered live([&](void* p, std::size_t n) { resource.deallocate(p, n, 16); });
  run<H>(state, [&](std::size_t n) { return live.keep(resource.allocate(n, 16), n); }, [&] { live.release(); });
}

template <Harness H>
void glibc_malloc(benchmark::State& state) {
  Remembered live([](void* p, std::size_t) { std::free(p); });
  run<H>(state, [&](std::size_t n) { return live.keep(std::malloc(n), n); }, [&] { live.release(); });
}

struct AprOnce {
  AprOnce() { apr_initialize(); }
};

template <Harness H>
void apr_palloc_clear(benchmark::State& state) {
  static AprOnce init;
  apr_pool_t* pool = nullptr;
  apr_pool_create(&pool, nullptr);
  run<H>(state, [&](std::size_t n) { return apr_palloc(pool, n); }, [&] { apr_pool_clear(pool); });
  apr_pool_destroy(pool);
}

// APR's own advice for loops: a subpool per iteration, destroyed at its end.
template <Harness H>
void apr_subpool(benchmark::State& state) {
  static AprOnce init;
  apr_pool_t* parent = nullptr;
  apr_pool_create(&parent, nullptr);
  apr_pool_t* sub = nullptr;
  apr_pool_create(&sub, parent);
  run<H>(
      state, [&](std::size_t n) { return apr_palloc(sub, n); },
      [&] {
        apr_pool_destroy(sub);
        apr_pool_create(&sub, parent);
      });
  apr_pool_destroy(parent);
}

// Other mallocs, loaded privately (RTLD_LOCAL) so they do not replace this process's malloc.
struct LoadedMalloc {
  void* (*malloc)(std::size_t) = nullptr;
  void (*free)(void*) = nullptr;
};

LoadedMalloc load_malloc(const char* library, const char* malloc_name, const char* free_name) {
  void* handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return {};
  return {reinterpret_cast<void* (*)(std::size_t)>(dlsym(handle, malloc_name)),
          reinterpret_cast<void (*)(void*)>(dlsym(handle, free_name))};
}

void loaded_malloc(benchmark::State& state, LoadedMalloc m) {
  Remembered live([&](void* p, std::size_t) { m.free(p); });
  mempool::bench::run_requests(state, [&](std::size_t n) { return live.keep(m.malloc(n), n); }, [&] { live.release(); });
}

const bool registered = [] {
  using enum Harness;
  benchmark::RegisterBenchmark("request/mempool::Pool reset", pool_reset<realistic>);
  benchmark::RegisterBenchmark("request/mempool::PoolManager acquire+release", manager_acquire_release<realistic>);
  benchmark::RegisterBenchmark("request/bump pointer (bounds check)", bump_pointer<realistic>);
  benchmark::RegisterBenchmark("request/pmr monotonic+release", pmr_monotonic<realistic>);
  benchmark::RegisterBenchmark("request/pmr unsynchronized_pool", pmr_unsynchronized_pool<realistic>);
  benchmark::RegisterBenchmark("request/APR palloc+clear", apr_palloc_clear<realistic>);
  benchmark::RegisterBenchmark("request/APR subpool per request", apr_subpool<realistic>);
  benchmark::RegisterBenchmark("request/glibc malloc+free", glibc_malloc<realistic>);
  // DESIGN §6's bars are taken here: Pool <= 1.3x bump, >= 2x faster than pmr, >= 3x than APR.
  benchmark::RegisterBenchmark("request-tight/mempool::Pool reset", pool_reset<tight>);
  benchmark::RegisterBenchmark("request-tight/mempool::PoolManager acquire+release", manager_acquire_release<tight>);
  benchmark::RegisterBenchmark("request-tight/bump pointer (bounds check)", bump_pointer<tight>);
  benchmark::RegisterBenchmark("request-tight/pmr monotonic+release", pmr_monotonic<tight>);
  benchmark::RegisterBenchmark("request-tight/APR palloc+clear", apr_palloc_clear<tight>);
  benchmark::RegisterBenchmark("request-tight/glibc malloc+free", glibc_malloc<tight>);
  if (auto m = load_malloc("libjemalloc.so.2", "malloc", "free"); m.malloc && m.free) {
    benchmark::RegisterBenchmark("request/jemalloc", loaded_malloc, m);
  }
  if (auto m = load_malloc("libmimalloc.so.2", "mi_malloc", "mi_free"); m.malloc && m.free) {
    benchmark::RegisterBenchmark("request/mimalloc", loaded_malloc, m);
  }
  return true;
}();

}  // namespace
