#include <mempool/detail/crash_point.hpp>
#include <mempool/global_arena.hpp>
#include <mempool/shared_arena.hpp>

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mempool/detail/align.hpp"
#include "support/seed.hpp"

using mempool::GlobalArena;
using mempool::SharedArena;

namespace {

constexpr std::size_t small_page = GlobalArena::min_page_size;

bool same_page(const void* a, const void* b, std::size_t page_size) {
  const auto x = reinterpret_cast<std::uintptr_t>(a);
  const auto y = reinterpret_cast<std::uintptr_t>(b);
  return (x > y ? x - y : y - x) < page_size;
}

// A value whose formatter allocates from the arena it is being formatted into.
struct Interned {
  GlobalArena* arena;
  std::string_view text;
};

}  // namespace

template <>
struct fmt::formatter<Interned> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const Interned& value, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(value.arena->strdup(value.text), ctx);
  }
};

// Config structs and tables are read as typed data: every pointer must honour the alignment asked.
TEST_CASE("every allocation is aligned as asked up to max_alignment") {
  const std::uint64_t seed = mempool::test::test_seed(0x61a4e);
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  GlobalArena arena({.page_size = small_page});
  for (int i = 0; i < 2000; ++i) {
    const std::size_t align = std::size_t{1} << (rng() % 13);  // 1 .. 4096
    const std::size_t n = rng() % 300;
    auto* p = static_cast<char*>(arena.alloc(n, align));
    REQUIRE(p != nullptr);
    REQUIRE(mempool::detail::is_aligned(p, align));
    std::memset(p, 0x5a, n);
  }
  CHECK(mempool::detail::is_aligned(arena.alloc(24), GlobalArena::default_alignment));
  CHECK(arena.alloc_unaligned(3) != nullptr);
}

// A 1 MiB MIME table must not fail because pages are 4 KiB (Swoole refuses such a request).
TEST_CASE("a request larger than a page gets a dedicated page and the shared page carries on") {
  GlobalArena arena({.page_size = small_page});
  void* before = arena.alloc(16);
  auto* big = static_cast<char*>(arena.alloc(3 * small_page));
  void* after = arena.alloc(16);
  REQUIRE(big != nullptr);
  std::memset(big, 0x11, 3 * small_page);
  const auto s = arena.stats();
  CHECK(s.oversize_pages == 1);
  CHECK(s.pages == 2);
  CHECK(s.bytes_reserved >= small_page + 3 * small_page);
  CHECK(same_page(before, after, small_page));  // the small ones still share the first page
}

// The largest request that shares a page is page_capacity(); one byte more must not fail either.
TEST_CASE("page_capacity() is the boundary between a shared and a dedicated page") {
  GlobalArena arena({.page_size = small_page});
  REQUIRE(arena.alloc(arena.page_capacity()) != nullptr);
  CHECK(arena.stats().oversize_pages == 0);
  REQUIRE(arena.alloc(arena.page_capacity() + 1) != nullptr);
  CHECK(arena.stats().oversize_pages == 1);
  CHECK(arena.stats().pages == 2);
}

// Permanent memory only grows: a full page must lead to a new page, never to a failure.
TEST_CASE("a full page is followed by a fresh page") {
  GlobalArena arena({.page_size = small_page});
  char* first = static_cast<char*>(arena.alloc(100));
  char* last = first;
  while (arena.stats().pages == 1) {
    last = static_cast<char*>(arena.alloc(100));
    REQUIRE(last != nullptr);
  }
  // `first` opened the first page, so anything in that page lies within page_capacity() of it.
  CHECK((last < first || last >= first + arena.page_capacity()));
  const auto s = arena.stats();
  CHECK(s.pages == 2);
  CHECK(s.oversize_pages == 0);
  CHECK(s.bytes_reserved == 2 * small_page);
}

// A configured page size must still give whole OS pages (Swoole asserts at least 4 KiB).
TEST_CASE("the page size is rounded up to whole 4 KiB pages with at least one") {
  CHECK(GlobalArena({.page_size = 0}).page_size() == 4096);
  CHECK(GlobalArena({.page_size = 1}).page_size() == 4096);
  CHECK(GlobalArena({.page_size = 5000}).page_size() == 8192);
  CHECK(GlobalArena({.page_size = 65536}).page_size() == 65536);
  CHECK(GlobalArena().page_size() == 64 * 1024);
  GlobalArena arena({.page_size = 5000});
  CHECK(arena.page_capacity() < arena.page_size());
  REQUIRE(arena.alloc(1) != nullptr);
  CHECK(arena.stats().bytes_reserved == 8192);
}

// alloc(0) is defined: a usable (non-null, aligned) pointer that is never dereferenced.
TEST_CASE("a zero-byte request gives a non-null aligned pointer") {
  GlobalArena arena;
  void* p = arena.alloc(0);
  REQUIRE(p != nullptr);
  CHECK(mempool::detail::is_aligned(p, GlobalArena::default_alignment));
  CHECK(arena.stats().allocations == 1);
  CHECK(arena.stats().bytes_used == 0);
}

// The only failure is memory that cannot exist or that the OS refuses: nullptr, counted.
TEST_CASE("an impossible size gives nullptr and is counted as a failure") {
  GlobalArena arena;
  CHECK(arena.alloc(std::numeric_limits<std::size_t>::max()) == nullptr);
  CHECK(arena.alloc(std::numeric_limits<std::size_t>::max() / 2 + 1) == nullptr);
  CHECK(arena.strdup(std::string_view(nullptr, 0)).data() != nullptr);  // empty is fine
  const auto s = arena.stats();
  CHECK(s.failures == 2);
  CHECK(s.allocations == 1);
  CHECK(s.oversize_pages == 0);
}

// Config values are copied out of the parser's buffer once and read for the process's life.
TEST_CASE("strdup copies the bytes and terminates them with a NUL") {
  GlobalArena arena({.page_size = small_page});
  const std::string source = "text/html";
  std::string_view copy = arena.strdup(source);
  CHECK(copy == "text/html");
  CHECK(copy.data() != source.data());
  CHECK(copy.data()[copy.size()] == '\0');

  std::string_view empty = arena.strdup("");
  REQUIRE(empty.data() != nullptr);
  CHECK(empty.empty());
  CHECK(empty.data()[0] == '\0');

  const std::string with_nul("a\0b", 3);
  CHECK(arena.strdup(with_nul) == std::string_view(with_nul));

  const std::string long_text(3 * small_page, 'x');  // larger than a page: a dedicated page
  std::string_view long_copy = arena.strdup(long_text);
  CHECK(long_copy == long_text);
  CHECK(long_copy.data()[long_copy.size()] == '\0');
  CHECK(arena.stats().oversize_pages == 1);
  CHECK(arena.stats().bytes_used == 10 + 1 + 4 + long_text.size() + 1);
}

// Derived strings ("host:port", log prefixes) are formatted once at start-up, straight into the arena.
TEST_CASE("format writes NUL-terminated fmt output into the arena") {
  GlobalArena arena({.page_size = small_page});
  std::string_view listen = arena.format("{}:{}", "127.0.0.1", 8080);
  CHECK(listen == "127.0.0.1:8080");
  CHECK(listen.data()[listen.size()] == '\0');

  std::string_view nothing = arena.format("");
  REQUIRE(nothing.data() != nullptr);
  CHECK(nothing.empty());

  std::string_view wide = arena.format("{:>9000}", "end");  // longer than a page
  CHECK(wide.size() == 9000);
  CHECK(wide.substr(wide.size() - 3) == "end");
  CHECK(wide.data()[9000] == '\0');
  CHECK(arena.stats().oversize_pages == 1);
}

// The arena's lock is not held while fmt runs, so a formatter may use the arena (no self-deadlock).
TEST_CASE("a formatter may allocate from the arena it formats into") {
  GlobalArena arena;
  std::string_view text = arena.format("[{}]", Interned{&arena, "nested"});
  CHECK(text == "[nested]");
  CHECK(arena.stats().allocations == 3);  // fmt runs twice (measure, write): two copies, then the text
}

// Permanent memory cannot be handed back: free and deallocate must leave it readable.
TEST_CASE("free and deallocate release nothing: memory stays valid until the arena dies") {
  GlobalArena arena;
  auto* p = static_cast<char*>(arena.alloc(64));
  std::memset(p, 7, 64);
  CHECK_FALSE(arena.free(p));
  arena.deallocate(p, 64);
  auto* q = static_cast<char*>(arena.allocate(64));
  CHECK((q >= p + 64 || q + 64 <= p));
  CHECK(std::all_of(p, p + 64, [](char c) { return c == 7; }));
  CHECK(arena.stats().allocations == 2);
}

// /stats exposes these counters: each must move exactly as documented.
TEST_CASE("stats count pages and reserved and used bytes and allocations") {
  GlobalArena arena({.page_size = small_page});
  CHECK(arena.stats() == mempool::GlobalArenaStats{});  // no page until the first request
  REQUIRE(arena.alloc(100) != nullptr);
  REQUIRE(arena.alloc(28, 4) != nullptr);
  REQUIRE(arena.strdup("abc").data() != nullptr);
  const auto s = arena.stats();
  CHECK(s.pages == 1);
  CHECK(s.oversize_pages == 0);
  CHECK(s.bytes_reserved == small_page);
  CHECK(s.bytes_used == 100 + 28 + 4);
  CHECK(s.allocations == 3);
  CHECK(s.failures == 0);
}

// The server's tables, built as they will be: strings and entries that point at each other.
TEST_CASE("a MIME table built in the arena stays readable while the arena lives") {
  struct Entry {
    std::string_view extension;
    std::string_view type;
  };
  GlobalArena arena({.page_size = small_page});
  const std::vector<std::pair<std::string, std::string>> source = {
      {"html", "text/html"}, {"css", "text/css"}, {"js", "text/javascript"}, {"png", "image/png"}};
  auto* table = static_cast<Entry*>(arena.alloc(source.size() * sizeof(Entry), alignof(Entry)));
  REQUIRE(table != nullptr);
  for (std::size_t i = 0; i < source.size(); ++i) {
    table[i] = Entry{arena.strdup(source[i].first), arena.format("{}; charset=utf-8", source[i].second)};
  }
  CHECK(table[2].extension == "js");
  CHECK(table[2].type == "text/javascript; charset=utf-8");
  CHECK(table[3].type.data()[table[3].type.size()] == '\0');
}

// Reactors load their parts of the config at once: concurrent requests must never share bytes.
TEST_CASE("allocations from several threads at once are intact and never overlap") {
  struct Record {
    unsigned char* p;
    std::size_t n;
    unsigned char fill;
  };
  constexpr int thread_count = 4;
  constexpr int per_thread = 3000;
  const std::uint64_t seed = mempool::test::test_seed(0x7417ead5);
  INFO("seed " << seed);
  GlobalArena arena({.page_size = small_page});
  std::vector<std::vector<Record>> records(thread_count);
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&arena, &records, seed, t] {
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
      for (int i = 0; i < per_thread; ++i) {
        // Mostly small, now and then larger than a page.
        const std::size_t n = i % 97 == 0 ? small_page + rng() % 5000 : rng() % 200;
        const std::size_t align = std::size_t{1} << (rng() % 6);
        auto* p = static_cast<unsigned char*>(arena.alloc(n, align));
        if (p == nullptr) return;  // checked below through the count
        const auto fill = static_cast<unsigned char>(t * 61 + i);
        std::memset(p, fill, n);
        records[static_cast<std::size_t>(t)].push_back({p, n, fill});
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::vector<Record> all;
  std::size_t bytes = 0;
  for (const auto& r : records) all.insert(all.end(), r.begin(), r.end());
  REQUIRE(all.size() == std::size_t{thread_count} * per_thread);
  for (const Record& r : all) {
    REQUIRE(std::all_of(r.p, r.p + r.n, [&](unsigned char c) { return c == r.fill; }));
    bytes += r.n;
  }
  // Ties sort the zero-byte pointer (which may equal the next allocation's) first.
  std::sort(all.begin(), all.end(), [](const Record& a, const Record& b) { return a.p < b.p || (a.p == b.p && a.n < b.n); });
  for (std::size_t i = 1; i < all.size(); ++i) REQUIRE(all[i - 1].p + all[i - 1].n <= all[i].p);
  const auto s = arena.stats();
  CHECK(s.allocations == all.size());
  CHECK(s.bytes_used == bytes);
  CHECK(s.failures == 0);
}

// --- shared arenas (Swoole's shared MemoryGlobal): page list and cursor inside a SharedArena ---

namespace {

bool exited_zero(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

/// What a child leaves for the parent: strings it wrote into the shared arena.
struct Written {
  static constexpr int count = 200;
  const char* text[count];
  std::size_t size[count];
};

}  // namespace

// A master loads its configuration into a shared arena and forks workers that add to it: what one
// process writes every other reads, at the same address, and the counters are the same for all.
TEST_CASE("A shared GlobalArena serves forked children that each add to it") {
  constexpr int children = 3;
  SharedArena backing(std::size_t{4} << 20);
  GlobalArena arena(backing, {.page_size = small_page});
  CHECK(arena.shared());
  const std::string_view before_fork = arena.strdup("listen 127.0.0.1:8080");
  auto* written = static_cast<Written*>(backing.calloc(sizeof(Written) * children));
  REQUIRE(written != nullptr);
  std::vector<pid_t> pids;
  for (int c = 0; c < children; ++c) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (before_fork != "listen 127.0.0.1:8080") _exit(2);
      for (int i = 0; i < Written::count; ++i) {
        // Now and then larger than a page: a dedicated page, also from the SharedArena.
        const std::string_view text =
            i % 50 == 7 ? arena.format("{:>6000}", c * 1000 + i) : arena.format("child {} line {}", c, i);
        if (text.data() == nullptr) _exit(3);
        written[c].text[i] = text.data();
        written[c].size[i] = text.size();
      }
      _exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(exited_zero(status));
  }
  struct Span {
    const char* p;
    std::size_t n;
  };
  std::vector<Span> spans{{before_fork.data(), before_fork.size() + 1}};
  for (int c = 0; c < children; ++c) {
    for (int i = 0; i < Written::count; ++i) {
      const std::string_view text(written[c].text[i], written[c].size[i]);
      const std::string expected = i % 50 == 7 ? fmt::format("{:>6000}", c * 1000 + i) : fmt::format("child {} line {}", c, i);
      REQUIRE(text == expected);
      spans.push_back({text.data(), text.size() + 1});
    }
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.p < b.p; });
  for (std::size_t i = 1; i < spans.size(); ++i) REQUIRE(spans[i - 1].p + spans[i - 1].n <= spans[i].p);
  const GlobalArena::Stats s = arena.stats();
  CHECK(s.allocations == 1 + children * Written::count);
  CHECK(s.oversize_pages == children * 4);
  CHECK(s.failures == 0);
  CHECK(backing.free(written));
}

// The pages go back to the SharedArena with the creating process's object, never with a child's.
TEST_CASE("A shared GlobalArena gives its pages back when the creating process destroys it") {
  SharedArena backing(std::size_t{1} << 20);
  {
    GlobalArena arena(backing, {.page_size = small_page});
    for (int i = 0; i < 20; ++i) REQUIRE(arena.alloc(1000) != nullptr);
    REQUIRE(arena.alloc(3 * small_page) != nullptr);
    const std::size_t held = backing.capacity() - backing.available();
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      arena.~GlobalArena();  // a child's copy going away
      _exit(backing.capacity() - backing.available() == held ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(exited_zero(status));
  }
  CHECK(backing.available() == backing.capacity());
  SharedArena tiny(4096);
  std::vector<std::unique_ptr<GlobalArena>> arenas;  // each takes a few bytes for its state
  CHECK_THROWS_AS(([&] { for (;;) arenas.push_back(std::make_unique<GlobalArena>(tiny)); })(), std::bad_alloc);
  REQUIRE_FALSE(arenas.empty());
  CHECK(arenas.front()->alloc(100) == nullptr);  // no room for a page either: nullptr, counted
  CHECK(arenas.front()->stats().failures == 1);
}

// DESIGN §3.8's rule for shared state: a process killed at any point inside a shared arena's call
// leaves it whole. Each change of the page list and the cursor is one store; the child dies after
// each in turn, and the arena must keep serving, and give every page back at the end.
TEST_CASE("A shared GlobalArena stays whole when a process dies at any point of an allocation") {
  for (const std::size_t request : {std::size_t{100}, std::size_t{3000}, std::size_t{3 * small_page}}) {
    for (int k = 1;; ++k) {
      INFO("request " << request << ", killed at point " << k);
      SharedArena backing(std::size_t{1} << 20);
      bool completed = false;
      {
        GlobalArena arena(backing, {.page_size = small_page});
        auto* first = static_cast<char*>(arena.alloc(2000));  // the current page: half full
        std::memset(first, 'f', 2000);
        const pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
          static int countdown;
          countdown = k;
          mempool::detail::crash_point_hook = [] {
            if (--countdown == 0) raise(SIGKILL);
          };
          (void)arena.alloc(request);
          _exit(0);
        }
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        completed = WIFEXITED(status);
        REQUIRE((completed || WTERMSIG(status) == SIGKILL));
        CHECK(backing.verify());
        for (int i = 0; i < 10; ++i) {  // the arena carries on: new memory never overlaps old
          auto* p = static_cast<char*>(arena.alloc(request));
          REQUIRE(p != nullptr);
          CHECK((p >= first + 2000 || p + request <= first));
          std::memset(p, 'x', request);
        }
        CHECK(std::all_of(first, first + 2000, [](char c) { return c == 'f'; }));
      }
      CHECK(backing.available() == backing.capacity());  // every page was listed, and given back
      if (completed) {
        CHECK(k > 1);  // the allocation did pass crash points
        break;
      }
    }
  }
}
