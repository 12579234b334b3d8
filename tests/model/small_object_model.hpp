/// \file
/// The SmallObjectAllocator model harness: allocate and deallocate of every size class (0..128)
/// and of large sizes, reallocate within a class, across classes and between large sizes, the
/// STL adaptor through a std::list, a MemorySource that refuses on demand, and the out-of-memory
/// handler (none, one that frees memory, one that gives up, replaced through set_oom_handler).
/// The model is the set of live objects and the counters each call may change. After every step:
/// contents intact, alignment, no two objects overlapping, every chunk byte accounted for
/// (chunk headers + the current chunk's rest + free lists + live small objects), and per call:
/// a deallocate adds exactly one object to its class's list and changes nothing else; an allocate
/// from a non-empty list takes exactly that list's head and changes nothing else; a refill asks
/// the source for SGI's growth rule; a refusal ends in a larger list, the handler, or bad_alloc.
/// Driven by tests/unit/small_object_model_test.cpp and tests/fuzz/small_object_fuzz.cpp.
#pragma once

#include <mempool/small_object_allocator.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <new>
#include <vector>

#include "model/op_source.hpp"

namespace mempool::test {

/// A MemorySource that records every request and refuses on demand, so the fallbacks run exactly
/// when a test wants them to.
class TestSource final : public MemorySource {
 public:
  std::vector<std::size_t> requests;  ///< every size asked of allocate(), refused or not
  int refusals = 0;                   ///< refuse this many requests next; -1 refuses all
  std::size_t live_bytes = 0;         ///< handed out and not given back
  int reallocations = 0;

  TestSource() { requests.reserve(1024); }

  void* allocate(std::size_t bytes) noexcept override {
    requests.push_back(bytes);
    if (refuse()) return nullptr;
    live_bytes += bytes;
    return std::malloc(bytes);
  }
  void deallocate(void* p, std::size_t bytes) noexcept override {
    live_bytes -= bytes;
    std::free(p);
  }
  void* reallocate(void* p, std::size_t old_bytes, std::size_t new_bytes) noexcept override {
    ++reallocations;
    if (refuse()) return nullptr;
    void* q = std::realloc(p, new_bytes);
    if (q != nullptr) live_bytes = live_bytes - old_bytes + new_bytes;
    return q;
  }

 private:
  bool refuse() noexcept {
    if (refusals == 0) return false;
    if (refusals > 0) --refusals;
    return true;
  }
};

/// What an out-of-memory handler did, and when it should stop the source refusing or give up.
struct HandlerScript {
  TestSource* source = nullptr;
  int calls = 0;
  int release_memory_at = 0;  ///< at this call, the source stops refusing
  int give_up_at = 0;         ///< at this call, the handler removes itself
};

inline void scripted_handler(SmallObjectAllocator& allocator, void* context) {
  auto* script = static_cast<HandlerScript*>(context);
  ++script->calls;
  if (script->calls == script->release_memory_at) script->source->refusals = 0;
  if (script->calls == script->give_up_at) allocator.set_oom_handler({});
}

inline void small_object_model(OpSource& in) {
  using A = SmallObjectAllocator;
  TestSource source;
  HandlerScript script{.source = &source};
  A a({.source = &source});
  struct Object {
    std::size_t n;
    unsigned char fill;
  };
  std::map<unsigned char*, Object> live;
  std::size_t large_bytes = 0;
  unsigned char next_fill = 1;
  std::uint64_t handler_calls = 0;
  // A std::list whose nodes come from the allocator, with its own shadow.
  std::list<int, SmallObjectStlAllocator<int>> list{SmallObjectStlAllocator<int>(a)};
  std::vector<int> list_shadow;
  constexpr std::size_t list_node = A::size_class(2 * sizeof(void*) + sizeof(int));  // two links and the value

  auto footprint = [](std::size_t n) { return n <= A::max_small_size ? A::size_class(n) : n; };
  auto free_bytes = [](const SmallObjectStats& s) {
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < A::class_count; ++i) bytes += s.free_objects[i] * (i + 1) * A::alignment;
    return bytes;
  };
  auto add = [&](unsigned char* p, std::size_t n) {
    MODEL_CHECK(p != nullptr);
    MODEL_CHECK(reinterpret_cast<std::uintptr_t>(p) % (n <= A::max_small_size ? A::alignment : alignof(std::max_align_t)) == 0);
    auto next = live.lower_bound(p);
    MODEL_CHECK(next == live.end() || p + footprint(n) <= next->first);
    if (next != live.begin()) MODEL_CHECK(std::prev(next)->first + footprint(std::prev(next)->second.n) <= p);
    next_fill = static_cast<unsigned char>(next_fill % 250 + 1);
    std::memset(p, next_fill, n);
    live[p] = {n, next_fill};
    if (n > A::max_small_size) large_bytes += n;
  };
  auto remove = [&](unsigned char* p) {
    const Object o = live[p];
    for (std::size_t i = 0; i < o.n; ++i) MODEL_CHECK(p[i] == o.fill);
    live.erase(p);
    if (o.n > A::max_small_size) large_bytes -= o.n;
    return o;
  };
  auto pick = [&]() -> unsigned char* {
    if (live.empty()) return nullptr;
    auto it = live.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(in.below(live.size())));
    return it->first;
  };
  auto size = [&]() -> std::size_t {
    if (in.below(5) == 0) return A::max_small_size + 1 + in.below(600);
    return in.below(A::max_small_size + 1);  // every class, 0 included
  };

  // Only the list of n's class changes, by `delta` (a deallocate, or an allocate from the list).
  auto one_list_changed = [&](const SmallObjectStats& before, const SmallObjectStats& after, std::size_t n, int delta) {
    SmallObjectStats expect = before;
    expect.free_objects[A::class_index(n)] = static_cast<std::size_t>(static_cast<long>(before.free_objects[A::class_index(n)]) + delta);
    expect.heap_bytes = after.heap_bytes;
    MODEL_CHECK(after == expect);
  };

  // An allocate, checked against the rule that applies: from the list, a refill, a large object.
  auto do_allocate = [&](std::size_t n) {
    ModelRun::current().op = "allocate";
    const SmallObjectStats before = a.stats();
    const std::size_t asked_before = source.requests.size();
    unsigned char* p = nullptr;
    try {
      p = static_cast<unsigned char*>(a.allocate(n));
    } catch (const std::bad_alloc&) {
      // Only when the source refused, no larger list could stand in, and the handler gave up.
      MODEL_CHECK(source.requests.size() > asked_before);
      MODEL_CHECK(!a.set_oom_handler({}));  // none, or it removed itself
      return;
    }
    add(p, n);
    const SmallObjectStats after = a.stats();
    if (n > A::max_small_size) {
      MODEL_CHECK(source.requests[asked_before] == n);
      return;
    }
    if (before.free_objects[A::class_index(n)] != 0) {  // served from its list: nothing else moves
      MODEL_CHECK(source.requests.size() == asked_before);
      one_list_changed(before, after, n, -1);
      return;
    }
    MODEL_CHECK(after.refills == before.refills + 1);
    if (before.chunk_left < A::size_class(n) && source.requests.size() > asked_before) {
      // A new chunk was asked for: twice the refill's 20 objects plus 1/16 of the chunks so far.
      const std::size_t grow = ((before.chunk_bytes >> 4) + A::alignment - 1) / A::alignment * A::alignment;
      MODEL_CHECK(source.requests[asked_before] == 2 * A::refill_count * A::size_class(n) + grow);
    }
  };

  // An OOM handler for this step, or none: the source is told to refuse first.
  auto set_up_refusal = [&] {
    source.refusals = in.flag() ? -1 : static_cast<int>(in.between(1, 3));
    script.calls = 0;
    switch (in.below(3)) {
      case 0: (void)a.set_oom_handler({}); break;
      case 1:
        script.release_memory_at = static_cast<int>(in.between(1, 3));
        script.give_up_at = 0;
        (void)a.set_oom_handler({&scripted_handler, &script});
        break;
      default:
        script.release_memory_at = 0;
        script.give_up_at = static_cast<int>(in.between(1, 3));
        (void)a.set_oom_handler({&scripted_handler, &script});
        break;
    }
  };

  auto check = [&] {
    const SmallObjectStats s = a.stats();
    std::size_t small_bytes = 0;
    for (const auto& [p, o] : live) {
      if (o.n <= A::max_small_size) small_bytes += A::size_class(o.n);
      if (o.n != 0) MODEL_CHECK(p[0] == o.fill && p[o.n - 1] == o.fill);
    }
    small_bytes += list.size() * list_node;
    MODEL_CHECK(s.heap_bytes == large_bytes);
    MODEL_CHECK(s.chunk_bytes == s.chunks * A::chunk_header_size + s.chunk_left + free_bytes(s) + small_bytes);
    MODEL_CHECK(source.live_bytes == s.chunk_bytes + large_bytes);
    MODEL_CHECK(s.oom_handler_calls == handler_calls);
    MODEL_CHECK(std::equal(list.begin(), list.end(), list_shadow.begin(), list_shadow.end()));
  };

  for (ModelRun::current().step = 0; !in.done(); ++ModelRun::current().step) {
    switch (in.below(11)) {
      case 0:
      case 1:
      case 2: do_allocate(size()); break;
      case 3:
      case 4: {
        ModelRun::current().op = "deallocate";
        unsigned char* p = pick();
        if (p == nullptr) break;
        const SmallObjectStats before = a.stats();
        const Object o = remove(p);
        a.deallocate(p, o.n);
        if (o.n <= A::max_small_size) one_list_changed(before, a.stats(), o.n, +1);
        break;
      }
      case 5: {
        ModelRun::current().op = "deallocate then allocate the same class";
        unsigned char* p = pick();
        if (p == nullptr || live[p].n > A::max_small_size) break;
        const Object o = remove(p);
        a.deallocate(p, o.n);
        const std::size_t n = (A::class_index(o.n) * A::alignment) + 1 + in.below(A::alignment);
        auto* q = static_cast<unsigned char*>(a.allocate(n));
        MODEL_CHECK(q == p);  // LIFO: the object just given back
        add(q, n);
        break;
      }
      case 6: {
        ModelRun::current().op = "reallocate";
        unsigned char* p = pick();
        if (p == nullptr) break;
        const Object o = live[p];
        const std::size_t n = size();
        void* q;
        try {
          q = a.reallocate(p, o.n, n);
        } catch (const std::bad_alloc&) {
          break;  // p untouched, still live (checked below)
        }
        if (o.n <= A::max_small_size && n <= A::max_small_size && A::class_index(o.n) == A::class_index(n)) {
          MODEL_CHECK(q == p);  // same class: the same object
        }
        auto* bytes = static_cast<unsigned char*>(q);
        for (std::size_t i = 0; i < std::min(o.n, n); ++i) MODEL_CHECK(bytes[i] == o.fill);
        live.erase(p);
        if (o.n > A::max_small_size) large_bytes -= o.n;
        add(bytes, n);
        break;
      }
      case 7: {
        ModelRun::current().op = "allocate while the source refuses";
        set_up_refusal();
        do_allocate(size());
        handler_calls += static_cast<std::uint64_t>(script.calls);
        source.refusals = 0;
        (void)a.set_oom_handler({});
        break;
      }
      case 8: {
        ModelRun::current().op = "list";
        if (in.flag() || list.empty()) {
          const int v = static_cast<int>(in.below(1000));
          try {
            list.push_back(v);
            list_shadow.push_back(v);
          } catch (const std::bad_alloc&) {
          }
        } else {
          list.pop_front();
          list_shadow.erase(list_shadow.begin());
        }
        break;
      }
      case 9: {
        ModelRun::current().op = "set_oom_handler";
        HandlerScript other;
        (void)a.set_oom_handler({&scripted_handler, &other});
        const SmallObjectOomHandler previous = a.set_oom_handler({});
        MODEL_CHECK(previous.fn == &scripted_handler && previous.context == &other);
        break;
      }
      case 10: {
        ModelRun::current().op = "deallocate nullptr";
        const SmallObjectStats before = a.stats();
        a.deallocate(nullptr, in.below(200));
        MODEL_CHECK(a.stats() == before);
        break;
      }
    }
    check();
  }
  ModelRun::current().op = "give everything back";
  list.clear();
  while (!live.empty()) {
    unsigned char* p = live.begin()->first;
    const Object o = remove(p);
    a.deallocate(p, o.n);
  }
  MODEL_CHECK(a.stats().heap_bytes == 0);
}

}  // namespace mempool::test
