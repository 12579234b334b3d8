// DESIGN §6, first row: the request-shaped workload through our Pool and its contenders.
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
using mempool::bench::run_requests;

// Ours, as a reactor uses it: a request pool on the reactor's own (unlocked) BlockAllocator,
// reset after each request.
void pool_reset(benchmark::State& state) {
  mempool::BlockAllocator blocks;
  mempool::Pool pool({.allocator = &blocks});
  run_requests(state, [&](std::size_t n) { return pool.alloc(n); }, [&] { pool.reset(); });
}

// DESIGN §6 second row: the same work, but each request acquires its pool from a reactor's
// PoolManager and releases it at the end (what a connection's life costs on top of the pool).
void manager_acquire_release(benchmark::State& state) {
  mempool::PoolManager manager;
  mempool::PoolManager::Handle handle = manager.acquire("request");
  mempool::Pool* pool = handle.get();  // a handler takes the pool from its handle once
  run_requests(
      state, [&](std::size_t n) { return pool->alloc(n); },
      [&] {
        handle.release();
        handle = manager.acquire("request");
        pool = handle.get();
      });
}

// The floor: a pointer bump over one big buffer, rewound after each request.
void bump_pointer(benchmark::State& state) {
  constexpr std::size_t arena_size = 1 << 20;
  auto arena = std::make_unique<std::byte[]>(arena_size);
  std::byte* const begin = arena.get();
  std::byte* cursor = begin;
  run_requests(
      state,
      [&](std::size_t n) {
        cursor = begin + ((cursor - begin + 15) & ~std::ptrdiff_t{15});
        void* p = cursor;
        cursor += n;
        return p;
      },
      [&] { cursor = begin; });
}

void pmr_monotonic(benchmark::State& state) {
  std::pmr::monotonic_buffer_resource resource;
  run_requests(state, [&](std::size_t n) { return resource.allocate(n, 16); }, [&] { resource.release(); });
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

void pmr_unsynchronized_pool(benchmark::State& state) {
  std::pmr::unsynchronized_pool_resource resource;
  Remembered live([&](void* p, std::size_t n) { resource.deallocate(p, n, 16); });
  run_requests(state, [&](std::size_t n) { return live.keep(resource.allocate(n, 16), n); }, [&] { live.release(); });
}

void glibc_malloc(benchmark::State& state) {
  Remembered live([](void* p, std::size_t) { std::free(p); });
  run_requests(state, [&](std::size_t n) { return live.keep(std::malloc(n), n); }, [&] { live.release(); });
}

struct AprOnce {
  AprOnce() { apr_initialize(); }
};

void apr_palloc_clear(benchmark::State& state) {
  static AprOnce init;
  apr_pool_t* pool = nullptr;
  apr_pool_create(&pool, nullptr);
  run_requests(state, [&](std::size_t n) { return apr_palloc(pool, n); }, [&] { apr_pool_clear(pool); });
  apr_pool_destroy(pool);
}

// APR's own advice for loops: a subpool per iteration, destroyed at its end.
void apr_subpool(benchmark::State& state) {
  static AprOnce init;
  apr_pool_t* parent = nullptr;
  apr_pool_create(&parent, nullptr);
  apr_pool_t* sub = nullptr;
  apr_pool_create(&sub, parent);
  run_requests(
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
  run_requests(state, [&](std::size_t n) { return live.keep(m.malloc(n), n); }, [&] { live.release(); });
}

const bool registered = [] {
  benchmark::RegisterBenchmark("request/mempool::Pool reset", pool_reset);
  benchmark::RegisterBenchmark("request/mempool::PoolManager acquire+release", manager_acquire_release);
  benchmark::RegisterBenchmark("request/bump pointer", bump_pointer);
  benchmark::RegisterBenchmark("request/pmr monotonic+release", pmr_monotonic);
  benchmark::RegisterBenchmark("request/pmr unsynchronized_pool", pmr_unsynchronized_pool);
  benchmark::RegisterBenchmark("request/APR palloc+clear", apr_palloc_clear);
  benchmark::RegisterBenchmark("request/APR subpool per request", apr_subpool);
  benchmark::RegisterBenchmark("request/glibc malloc+free", glibc_malloc);
  if (auto m = load_malloc("libjemalloc.so.2", "malloc", "free"); m.malloc && m.free) {
    benchmark::RegisterBenchmark("request/jemalloc", loaded_malloc, m);
  }
  if (auto m = load_malloc("libmimalloc.so.2", "mi_malloc", "mi_free"); m.malloc && m.free) {
    benchmark::RegisterBenchmark("request/mimalloc", loaded_malloc, m);
  }
  return true;
}();

}  // namespace
