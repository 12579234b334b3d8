/// \file
/// The GlobalArena model harness: alloc (every alignment up to max_alignment, sizes from 0 to
/// several pages), alloc_unaligned, strdup, format (with a formatter that allocates from the same
/// arena), free and deallocate (no-ops), stats, on a private or a shared arena (over a
/// SharedArena). The model is the list of allocations. After every step: every pointer aligned
/// as asked, no two allocations overlap, every byte written is intact, and stats() equal to the
/// model: allocations, bytes used, dedicated pages (exactly the requests no page could share),
/// and the bytes reserved implied by the pages. Driven by tests/unit/global_arena_model_test.cpp
/// and tests/fuzz/global_arena_fuzz.cpp.
#pragma once

#include <mempool/global_arena.hpp>
#include <mempool/shared_arena.hpp>

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "model/op_source.hpp"

namespace mempool::test {

namespace global_arena_model_detail {

/// A value whose formatter allocates from the arena it is formatted into.
struct Interned {
  GlobalArena* arena;
  std::string_view text;
};

}  // namespace global_arena_model_detail

}  // namespace mempool::test

template <>
struct fmt::formatter<mempool::test::global_arena_model_detail::Interned> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const mempool::test::global_arena_model_detail::Interned& value, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(value.arena->strdup(value.text), ctx);
  }
};

namespace mempool::test {

inline void global_arena_model(OpSource& in) {
  using global_arena_model_detail::Interned;
  const bool shared = in.flag();
  const std::size_t page_size = GlobalArena::min_page_size << in.below(3);  // 4, 8 or 16 KiB
  std::optional<SharedArena> backing;
  std::optional<GlobalArena> storage;
  if (shared) {
    backing.emplace(std::size_t{32} << 20);  // mapped lazily: only the pages used cost anything
    storage.emplace(*backing, GlobalArena::Options{.page_size = page_size});
  } else {
    storage.emplace(GlobalArena::Options{.page_size = page_size});
  }
  GlobalArena& arena = *storage;
  MODEL_CHECK(arena.page_size() == page_size && arena.shared() == shared);

  struct Allocation {
    std::size_t n;
    unsigned char fill;
  };
  std::multimap<const unsigned char*, Allocation> all;  // zero-byte allocations may share an address
  GlobalArena::Stats want;
  std::size_t dedicated_bytes = 0;  ///< bytes of every dedicated page, headers included
  std::size_t page_header = 0;      ///< learnt from the first dedicated page
  unsigned char next_fill = 1;

  auto worst_padding = [](std::size_t align) {
    return align > GlobalArena::default_alignment ? align - GlobalArena::default_alignment : 0;
  };
  // Takes in a successful allocation of n bytes at p, asked with `align`; writes `fill` if asked.
  auto record = [&](const unsigned char* p, std::size_t n, std::size_t align, bool write) {
    MODEL_CHECK(p != nullptr);
    MODEL_CHECK(reinterpret_cast<std::uintptr_t>(p) % align == 0);
    if (n != 0) {
      auto next = all.lower_bound(p);
      while (next != all.end() && next->second.n == 0) ++next;  // zero-byte ones take no room
      MODEL_CHECK(next == all.end() || p + n <= next->first);
      for (auto prev = all.lower_bound(p); prev != all.begin();) {
        --prev;
        MODEL_CHECK(prev->first + prev->second.n <= p);
        if (prev->second.n != 0) break;
      }
    }
    const unsigned char fill = next_fill = static_cast<unsigned char>(next_fill % 250 + 1);
    if (write) std::memset(const_cast<unsigned char*>(p), fill, n);
    all.insert({p, {n, write ? fill : std::uint8_t{0}}});
    ++want.allocations;
    want.bytes_used += n;
  };
  auto intact = [&] {
    for (const auto& [p, a] : all) {
      if (a.fill == 0 || a.n == 0) continue;
      MODEL_CHECK(p[0] == a.fill && p[a.n - 1] == a.fill && p[a.n / 2] == a.fill);
    }
  };
  auto check = [&] {
    const GlobalArena::Stats s = arena.stats();
    MODEL_CHECK(s.allocations == want.allocations);
    MODEL_CHECK(s.bytes_used == want.bytes_used);
    MODEL_CHECK(s.failures == want.failures);
    MODEL_CHECK(s.oversize_pages == want.oversize_pages);
    // Shared pages are page_size each; dedicated pages are as large as their one request needs.
    MODEL_CHECK(s.bytes_reserved == (s.pages - s.oversize_pages) * page_size + dedicated_bytes);
    intact();
  };
  // A request is served from the current page if it fits there, else from a new page: a shared
  // page of page_size when a page could share it, else a dedicated page sized for it alone.
  auto alloc = [&](std::size_t n, std::size_t align) {
    const bool too_big_to_share = n + worst_padding(align) > arena.page_capacity();
    const std::size_t reserved_before = arena.stats().bytes_reserved;
    const auto* p = static_cast<const unsigned char*>(arena.alloc(n, align));
    if (p == nullptr) {  // only a shared arena whose SharedArena cannot hold the page may refuse
      // (the page header's size is learnt from the first dedicated page; 64 bounds it before)
      const std::size_t header = page_header != 0 ? page_header : 64;
      const std::size_t page = too_big_to_share ? header + worst_padding(align) + n : page_size;
      MODEL_CHECK(shared && backing->stats().largest_free < page + 16);
      ++want.failures;
      return;
    }
    record(p, n, align, true);
    const std::size_t page = arena.stats().bytes_reserved - reserved_before;
    if (page == 0) return;  // the current page had room
    if (!too_big_to_share) {
      MODEL_CHECK(page == page_size);
      return;
    }
    if (page_header == 0) page_header = page - worst_padding(align) - n;
    MODEL_CHECK(page == page_header + worst_padding(align) + n);
    ++want.oversize_pages;
    dedicated_bytes += page;
  };

  for (ModelRun::current().step = 0; !in.done(); ++ModelRun::current().step) {
    switch (in.below(9)) {
      case 0:
      case 1:
      case 2: {
        ModelRun::current().op = "alloc";
        const std::size_t align = std::size_t{1} << in.below(13);  // 1 .. 4096
        const std::size_t n = in.below(10) == 0 ? in.below(3 * page_size) : in.below(300);
        alloc(n, align);
        break;
      }
      case 3:
        ModelRun::current().op = "alloc_unaligned";
        {
          const std::size_t n = in.below(100);
          record(static_cast<const unsigned char*>(arena.alloc_unaligned(n)), n, 1, true);
        }
        break;
      case 4: {
        ModelRun::current().op = "alloc around page_capacity";
        const std::size_t n = arena.page_capacity() - 2 + in.below(5);
        alloc(n, GlobalArena::default_alignment);
        break;
      }
      case 5: {
        ModelRun::current().op = "strdup";
        const std::string text(in.below(64), static_cast<char>('a' + in.below(26)));
        const std::string_view copy = arena.strdup(text);
        MODEL_CHECK(copy == text && copy.data()[copy.size()] == '\0');
        record(reinterpret_cast<const unsigned char*>(copy.data()), copy.size() + 1, 1, false);
        break;
      }
      case 6: {
        ModelRun::current().op = "format";
        const std::string word(in.below(20), 'w');
        // fmt measures, then writes: the nested strdup runs twice, then the text is allocated.
        const std::string_view text = arena.format("{}-{}", in.below(1000), Interned{&arena, word});
        MODEL_CHECK(text.data() != nullptr && text.data()[text.size()] == '\0');
        MODEL_CHECK(text.substr(text.find('-') + 1) == word);
        want.allocations += 2;  // the two copies of `word`, untracked beyond the counters
        want.bytes_used += 2 * (word.size() + 1);
        record(reinterpret_cast<const unsigned char*>(text.data()), text.size() + 1, 1, false);
        break;
      }
      case 7: {
        ModelRun::current().op = "free";
        if (all.empty()) break;
        auto it = all.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(in.below(all.size())));
        MODEL_CHECK(!arena.free(it->first));  // nothing is released one by one
        arena.deallocate(const_cast<unsigned char*>(it->first), it->second.n);
        break;
      }
      case 8: {
        ModelRun::current().op = "allocate";
        const std::size_t n = in.below(64);
        record(static_cast<const unsigned char*>(arena.allocate(n)), n, GlobalArena::default_alignment, true);
        break;
      }
    }
    check();
  }
  storage.reset();
  if (backing) {
    ModelRun::current().op = "destruction gives every page back";
    MODEL_CHECK(backing->available() == backing->capacity());
    MODEL_CHECK(backing->verify());
  }
}

}  // namespace mempool::test
