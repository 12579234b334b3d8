/// \file
/// The FixedPool model harness: alloc(), alloc(n) (oversize included), free, double and invalid
/// frees, make<T>/destroy<T>, owns, is_live, stats, on a pool that owns its memory or one over
/// caller memory (maybe misaligned, maybe too small for a slice or for the header) with an
/// attach view working on the same region in turn. The model is a stack of free slice indices
/// (the most recently freed first; a fresh pool hands out slices front to back), so every
/// address is predicted. After every step: contents of live slices intact, every counter of
/// stats() as the model says, a fresh attach view agreeing, caller memory's guard bytes untouched.
/// Driven by tests/unit/fixed_pool_model_test.cpp and tests/fuzz/fixed_pool_fuzz.cpp.
#pragma once

#include <mempool/detail/check.hpp>
#include <mempool/fixed_pool.hpp>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "model/guarded_memory.hpp"
#include "model/op_source.hpp"

namespace mempool::test {

namespace fixed_pool_model_detail {

/// An object for make/destroy that counts its lives.
struct Object {
  static inline int alive = 0;
  std::uint64_t id;
  unsigned char payload[24];
  explicit Object(std::uint64_t i) : id(i) {
    std::memset(payload, static_cast<int>(i & 0xff), sizeof payload);
    ++alive;
  }
  ~Object() { --alive; }
};

}  // namespace fixed_pool_model_detail

inline void fixed_pool_model(OpSource& in) {
  using namespace fixed_pool_model_detail;
  const std::size_t asked_slice = in.below(8) == 0 ? 0 : in.below(200);
  const std::size_t asked_count = in.below(41);
  const std::size_t stride = asked_slice == 0 ? FixedPool::alignment : (asked_slice + 15) / 16 * 16;
  const bool caller_memory = in.flag();
  std::optional<GuardedMemory> memory;
  std::optional<FixedPool> storage;
  std::optional<FixedPool> view;  ///< caller memory: an attach view of the same region
  std::size_t expected_count = asked_count;
  if (caller_memory) {
    // Sometimes short of the exact size: one slice fewer, or no room for the header at all.
    const std::size_t exact = FixedPool::region_size(asked_slice, asked_count);
    const std::size_t bytes = in.below(6) == 0 ? in.below(exact + 1) : exact + in.below(stride);
    const std::size_t misalign = in.below(16);
    memory.emplace(bytes, misalign);
    storage.emplace(asked_slice, memory->start(), bytes);
    const std::size_t usable = bytes - std::min(bytes, (16 - reinterpret_cast<std::uintptr_t>(memory->start()) % 16) % 16);
    expected_count = 0;
    while (expected_count < 64 && FixedPool::region_size(asked_slice, expected_count + 1) <= usable) ++expected_count;
    if (expected_count > 0 || usable >= FixedPool::region_size(asked_slice, 0)) {
      view.emplace(FixedPool::attach, memory->start(), bytes);
    }
  } else {
    storage.emplace(asked_slice, asked_count);
  }
  FixedPool& pool = *storage;
  MODEL_CHECK(pool.slice_count() == expected_count);
  MODEL_CHECK(pool.slice_size() == stride);
  const std::size_t count = expected_count;

  std::vector<std::size_t> free_stack;  // back(): the slice alloc hands out next
  for (std::size_t i = count; i-- > 0;) free_stack.push_back(i);
  std::map<std::size_t, unsigned char> live;  // slice index -> fill byte
  std::map<std::size_t, Object*> objects;     // slices holding an Object
  unsigned char* base = nullptr;              // slice 0, learnt from the first slice handed out
  FixedPool::Stats want{.slice_size = stride, .slices_total = count};
  std::uint64_t next_id = 1;
  const int alive_before = Object::alive;

  auto address = [&](std::size_t i) { return base + i * stride; };
  // Either the pool or (over caller memory) its attach view serves the call: they share the region.
  auto server = [&]() -> FixedPool& { return view && in.flag() ? *view : pool; };

  auto took = [&](unsigned char* p) -> std::size_t {
    MODEL_CHECK(!free_stack.empty());
    const std::size_t i = free_stack.back();
    free_stack.pop_back();
    MODEL_CHECK(p != nullptr);
    if (base == nullptr) base = p - i * stride;
    MODEL_CHECK(p == address(i));
    MODEL_CHECK(reinterpret_cast<std::uintptr_t>(p) % FixedPool::alignment == 0);
    ++want.allocs;
    ++want.in_use;
    want.peak = std::max(want.peak, want.in_use);
    return i;
  };
  auto do_alloc = [&](std::optional<std::size_t> n) {
    ModelRun::current().op = "alloc";
    FixedPool& f = server();
    auto* p = static_cast<unsigned char*>(n ? f.alloc(*n) : f.alloc());
    if (n && *n > stride) {
      MODEL_CHECK(p == nullptr);
      ++want.failed_oversize;
      return;
    }
    if (free_stack.empty()) {
      MODEL_CHECK(p == nullptr);
      ++want.failed_exhausted;
      return;
    }
    const std::size_t i = took(p);
    const auto fill = static_cast<unsigned char>(i * 13 + want.allocs);
    std::memset(p, fill, stride);
    live[i] = fill;
  };
  auto pick_live = [&]() -> std::optional<std::size_t> {
    if (live.empty()) return std::nullopt;
    auto it = live.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(in.below(live.size())));
    return it->first;
  };
  auto do_free = [&] {
    ModelRun::current().op = "free";
    const auto i = pick_live();
    if (!i) return;
    for (std::size_t b = 0; b < stride; ++b) MODEL_CHECK(address(*i)[b] == live[*i]);
    MODEL_CHECK(server().free(address(*i)));
    live.erase(*i);
    free_stack.push_back(*i);
    ++want.frees;
    --want.in_use;
  };
  // Freed already, inside a slice, or not ours: refused and counted in every build; checked
  // builds abort instead (tests/unit/fixed_pool_test.cpp shows it).
  auto do_bad_free = [&] {
    if constexpr (MEMPOOL_CHECKS) return;
    ModelRun::current().op = "bad free";
    unsigned char outside[32];
    if (base != nullptr && !free_stack.empty() && in.flag()) {
      MODEL_CHECK(!server().free(address(free_stack[in.below(free_stack.size())])));
      ++want.double_frees;
    } else if (base != nullptr && count != 0 && in.flag()) {
      MODEL_CHECK(!server().free(address(in.below(count)) + in.between(1, stride - 1)));
      ++want.invalid_frees;
    } else {
      MODEL_CHECK(!server().free(outside + in.below(16)));
      ++want.invalid_frees;
    }
  };
  auto do_make = [&] {
    ModelRun::current().op = "make";
    Object* o = server().make<Object>(next_id);
    if (sizeof(Object) > stride) {
      MODEL_CHECK(o == nullptr);
      ++want.failed_oversize;
      return;
    }
    if (free_stack.empty()) {
      MODEL_CHECK(o == nullptr);
      ++want.failed_exhausted;
      return;
    }
    const std::size_t i = took(reinterpret_cast<unsigned char*>(o));
    MODEL_CHECK(o->id == next_id++);
    objects[i] = o;
  };
  auto do_destroy = [&] {
    ModelRun::current().op = "destroy";
    if (objects.empty()) return;
    auto it = objects.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(in.below(objects.size())));
    const int alive = Object::alive;
    MODEL_CHECK(server().destroy(it->second));
    MODEL_CHECK(Object::alive == alive - 1);
    free_stack.push_back(it->first);
    objects.erase(it);
    ++want.frees;
    --want.in_use;
  };

  auto check = [&] {
    MODEL_CHECK(pool.stats() == want);
    if (view) MODEL_CHECK(view->stats() == want);
    for (const auto& [i, fill] : live) {
      MODEL_CHECK(pool.is_live(address(i)) && pool.owns(address(i)));
      MODEL_CHECK(address(i)[0] == fill && address(i)[stride - 1] == fill);
    }
    for (const auto& [i, o] : objects) MODEL_CHECK(pool.is_live(o) && o->payload[23] == static_cast<unsigned char>(o->id & 0xff));
    if (base != nullptr && !free_stack.empty()) MODEL_CHECK(!pool.is_live(address(free_stack.back())));
    MODEL_CHECK(Object::alive - alive_before == static_cast<int>(objects.size()));
    if (memory) MODEL_CHECK(memory->guards_intact());
  };

  for (ModelRun::current().step = 0; !in.done(); ++ModelRun::current().step) {
    switch (in.below(10)) {
      case 0:
      case 1: do_alloc(std::nullopt); break;
      case 2: do_alloc(in.below(stride + 40)); break;
      case 3:
      case 4: do_free(); break;
      case 5: do_bad_free(); break;
      case 6: do_make(); break;
      case 7: do_destroy(); break;
      case 8: {
        ModelRun::current().op = "attach";
        if (!view) break;
        // A fresh view of the region in whatever state it is in: accepted, and the same pool.
        FixedPool again(FixedPool::attach, memory->start(), memory->bytes());
        MODEL_CHECK(again.stats() == want);
        break;
      }
      case 9: {
        ModelRun::current().op = "queries";
        MODEL_CHECK(!pool.owns(nullptr) && !pool.free(nullptr));
        if (base != nullptr && count != 0) MODEL_CHECK(!pool.owns(address(in.below(count)) + 1));
        break;
      }
    }
    check();
  }
  ModelRun::current().op = "free everything";
  for (const auto& [i, o] : objects) MODEL_CHECK(pool.destroy(o));
  for (const auto& [i, fill] : live) MODEL_CHECK(pool.free(address(i)));
  MODEL_CHECK(pool.in_use() == 0);
  MODEL_CHECK(Object::alive == alive_before);
}

}  // namespace mempool::test
