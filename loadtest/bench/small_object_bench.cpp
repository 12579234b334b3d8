// SmallObjectAllocator (DESIGN §3.7) against glibc and the standard library's own pool resource:
// raw alloc/free of mixed small sizes, then the node containers it exists for.
// Bar: mempool::SmallObjectAllocator faster than glibc malloc/free on small_objects.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <list>
#include <map>
#include <memory>
#include <memory_resource>
#include <random>
#include <string>
#include <vector>

#include <mempool/small_object_allocator.hpp>

namespace {

// Objects alive at once: a reactor's worth of nodes, well past glibc's per-size tcache of 7.
constexpr std::size_t live_slots = 4096;
// Pre-drawn sizes, cycled through; a power of two so the index wraps with a mask.
constexpr std::size_t size_count = 1 << 16;
constexpr std::size_t container_elements = 1000;

std::vector<std::size_t> small_sizes() {
  std::mt19937_64 rng(42);
  std::vector<std::size_t> sizes(size_count);
  for (auto& n : sizes) n = 8 + rng() % 121;  // 8..128 bytes
  return sizes;
}

// Each operation frees the oldest live object and allocates one of the next size in its slot,
// so the live set stays at live_slots objects of mixed sizes (FIFO turnover, like nodes of
// requests that finish in order). `alloc(n)` / `release(p, n)` are the contender.
template <class Alloc, class Release>
void run_turnover(benchmark::State& state, Alloc alloc, Release release) {
  const std::vector<std::size_t> sizes = small_sizes();
  std::vector<void*> slot(live_slots);
  std::vector<std::size_t> slot_size(live_slots);
  for (std::size_t i = 0; i < live_slots; ++i) {
    slot_size[i] = sizes[i];
    slot[i] = alloc(sizes[i]);
  }
  std::size_t next = live_slots;
  for (auto _ : state) {
    for (std::size_t i = 0; i < live_slots; ++i, ++next) {
      release(slot[i], slot_size[i]);
      const std::size_t n = sizes[next & (size_count - 1)];
      slot[i] = alloc(n);
      slot_size[i] = n;
      benchmark::DoNotOptimize(slot[i]);
    }
  }
  for (std::size_t i = 0; i < live_slots; ++i) release(slot[i], slot_size[i]);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * live_slots));
}

void small_object_allocator(benchmark::State& state) {
  mempool::SmallObjectAllocator objects;
  run_turnover(
      state, [&](std::size_t n) { return objects.allocate(n); },
      [&](void* p, std::size_t n) { objects.deallocate(p, n); });
}

void glibc_malloc(benchmark::State& state) {
  run_turnover(state, [](std::size_t n) { return std::malloc(n); }, [](void* p, std::size_t) { std::free(p); });
}

void pmr_unsynchronized_pool(benchmark::State& state) {
  std::pmr::unsynchronized_pool_resource resource;
  run_turnover(
      state, [&](std::size_t n) { return resource.allocate(n, 8); },
      [&](void* p, std::size_t n) { resource.deallocate(p, n, 8); });
}

// --- node containers ----------------------------------------------------------------------------

std::vector<int> shuffled_keys() {
  std::vector<int> keys(container_elements);
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<int>(i);
  std::shuffle(keys.begin(), keys.end(), std::mt19937_64(7));
  return keys;
}

// One operation: an element inserted and later erased. `make()` builds an empty list.
template <class MakeList>
void run_list(benchmark::State& state, MakeList make) {
  auto list = make();
  for (auto _ : state) {
    for (std::size_t i = 0; i < container_elements; ++i) list.push_back(static_cast<int>(i));
    // Erase every other element, then the rest: frees out of allocation order.
    for (auto it = list.begin(); it != list.end();) {
      it = list.erase(it);
      if (it != list.end()) ++it;
    }
    list.clear();
    benchmark::DoNotOptimize(list);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * container_elements));
}

void list_small_object(benchmark::State& state) {
  mempool::SmallObjectAllocator objects;
  using Alloc = mempool::SmallObjectStlAllocator<int>;
  run_list(state, [&] { return std::list<int, Alloc>(Alloc(objects)); });
}

void list_std_allocator(benchmark::State& state) {
  run_list(state, [] { return std::list<int>(); });
}

void list_pmr_pool(benchmark::State& state) {
  std::pmr::unsynchronized_pool_resource resource;
  run_list(state, [&] { return std::pmr::list<int>(&resource); });
}

// One operation: a key inserted (random order) and later erased (another random order).
template <class MakeMap>
void run_map(benchmark::State& state, MakeMap make) {
  const std::vector<int> insert_order = shuffled_keys();
  std::vector<int> erase_order = insert_order;
  std::shuffle(erase_order.begin(), erase_order.end(), std::mt19937_64(11));
  auto map = make();
  for (auto _ : state) {
    for (int key : insert_order) map.emplace(key, "value");
    for (int key : erase_order) map.erase(key);
    benchmark::DoNotOptimize(map);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * container_elements));
}

void map_small_object(benchmark::State& state) {
  mempool::SmallObjectAllocator objects;
  using Alloc = mempool::SmallObjectStlAllocator<std::pair<const int, std::string>>;
  run_map(state, [&] { return std::map<int, std::string, std::less<>, Alloc>(Alloc(objects)); });
}

void map_std_allocator(benchmark::State& state) {
  run_map(state, [] { return std::map<int, std::string, std::less<>>(); });
}

void map_pmr_pool(benchmark::State& state) {
  std::pmr::unsynchronized_pool_resource resource;
  run_map(state, [&] { return std::pmr::map<int, std::string, std::less<>>(&resource); });
}

[[maybe_unused]] const bool registered = [] {
  benchmark::RegisterBenchmark("small_objects/mempool::SmallObjectAllocator", small_object_allocator);
  benchmark::RegisterBenchmark("small_objects/glibc malloc+free", glibc_malloc);
  benchmark::RegisterBenchmark("small_objects/pmr unsynchronized_pool", pmr_unsynchronized_pool);
  benchmark::RegisterBenchmark("small_list/mempool::SmallObjectStlAllocator", list_small_object);
  benchmark::RegisterBenchmark("small_list/std::allocator", list_std_allocator);
  benchmark::RegisterBenchmark("small_list/pmr unsynchronized_pool", list_pmr_pool);
  benchmark::RegisterBenchmark("small_map/mempool::SmallObjectStlAllocator", map_small_object);
  benchmark::RegisterBenchmark("small_map/std::allocator", map_std_allocator);
  benchmark::RegisterBenchmark("small_map/pmr unsynchronized_pool", map_pmr_pool);
  return true;
}();

}  // namespace
